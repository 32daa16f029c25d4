using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

/// <summary>Options of a node that talks to a device through a <c>modbus-client</c>.</summary>
public interface IModbusClientOptions
{
    /// <summary>Id of the modbus-client config node (the package's <c>server</c> property).</summary>
    string Server { get; }
}

/// <summary>
/// A node that uses a modbus-client: finds it at start and shows its connection in the status,
/// at once (a node deployed after the client connected is not left blank) and on every change.
/// </summary>
public abstract class ModbusClientNode<TOptions> : FlowNode<TOptions> where TOptions : NodeOptions, IModbusClientOptions, new()
{
    /// <summary>The modbus-client config node; set at start.</summary>
    protected ModbusClientConfigNode ClientNode { get; private set; } = null!;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        ClientNode = Context.GetConfigNode<ModbusClientConfigNode>(Options.Server);
        ClientNode.StateChanged += ShowConnection;
        if (ClientNode.Client.State == ModbusConnectionState.Connected) ShowConnection(ModbusConnectionState.Connected, null);
        else if (ClientNode.Client.LastError is { } error) ShowConnection(ModbusConnectionState.Disconnected, error);
        else Context.SetStatus(NodeStatus.Idle("connecting"));
        return Task.CompletedTask;
    }

    void ShowConnection(ModbusConnectionState state, string? reason) =>
        Context.SetStatus(state == ModbusConnectionState.Connected ? NodeStatus.Ok("connected") : NodeStatus.Failed($"disconnected: {reason}"));

    /// <summary>
    /// Runs one request for <paramref name="message"/>. On success shows <paramref name="done"/>
    /// and sends the package's two outputs; on a device or input failure shows it in red and
    /// throws an error that starts with <paramref name="what"/>.
    /// </summary>
    protected async ValueTask ExchangeAsync(FlowMessage message, string what, string done, Func<Task<(List<object?> Data, byte[] Buffer)>> request,
        Func<List<object?>, object?> payload, string? topic, bool keep, CancellationToken cancellationToken)
    {
        List<object?> data;
        byte[] buffer;
        try { (data, buffer) = await request(); }
        catch (Exception e) when (e is ModbusException or ModbusProtocolException or IOException or TimeoutException or ArgumentException or FlowNodeException)
        {
            Context.SetStatus(NodeStatus.Failed(ModbusNodeSupport.Describe(e)));
            throw new FlowNodeException($"{what}: {ModbusNodeSupport.Describe(e)}");
        }
        Context.SetStatus(NodeStatus.Ok(done));
        var (first, second) = ModbusNodeSupport.Outputs(payload(data), data, buffer, message, topic, keep);
        await Context.SendAsync(0, first, cancellationToken);
        await Context.SendAsync(1, second, cancellationToken);
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        if (ClientNode is not null) ClientNode.StateChanged -= ShowConnection;
        return Task.CompletedTask;
    }
}
