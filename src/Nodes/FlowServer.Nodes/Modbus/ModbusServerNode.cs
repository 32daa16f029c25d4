using System.Buffers.Binary;
using System.Net;
using System.Threading.Channels;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

public sealed class ModbusServerOptions : NodeOptions
{
    [Property("name")] public string Name { get; set; } = "";
    [Property("hostname", Help = "Address to listen on: 0.0.0.0 for all, 127.0.0.1 for this machine only")]
    public string Hostname { get; set; } = "0.0.0.0";

    [Property("serverPort", Required = true, Editor = PropertyEditor.Number, Min = 1, Max = 65535, Label = "Port")]
    public int ServerPort { get; set; } = 10502;

    [Property("responseDelay", Editor = PropertyEditor.Number, Min = 0, Help = "Delay before each response, to simulate a slow device")]
    public double ResponseDelay { get; set; } = 100;

    [Property("delayUnit", Editor = PropertyEditor.Select, Choices = ["ms", "s", "m", "h"])]
    public string DelayUnit { get; set; } = "ms";

    [Property("coilsBufferSize", Editor = PropertyEditor.Number, Min = 0, Help = "Bytes of coil memory (8 coils a byte, at most 65536 coils)")]
    public int CoilsBufferSize { get; set; } = 10000;

    [Property("holdingBufferSize", Editor = PropertyEditor.Number, Min = 0, Help = "Bytes of holding registers (2 a register, at most 65536 registers)")]
    public int HoldingBufferSize { get; set; } = 10000;

    [Property("inputBufferSize", Editor = PropertyEditor.Number, Min = 0, Help = "Bytes of input registers (2 a register)")]
    public int InputBufferSize { get; set; } = 10000;

    [Property("discreteBufferSize", Editor = PropertyEditor.Number, Min = 0, Help = "Bytes of discrete inputs (8 a byte)")]
    public int DiscreteBufferSize { get; set; } = 10000;

    [Property("showErrors", Editor = PropertyEditor.Checkbox)] public bool ShowErrors { get; set; }
    [Property("logEnabled", Editor = PropertyEditor.Checkbox, Help = "Log client writes")] public bool LogEnabled { get; set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (!IPAddress.TryParse(Hostname.Trim() is { Length: > 0 } h ? h : "0.0.0.0", out _))
            yield return new OptionError("hostname", $"must be an IP address such as 0.0.0.0 or 127.0.0.1, got '{Hostname}'");
    }
}

[NodeType("modbus-server", Category = "network", Inputs = 1, Outputs = 5, Color = "#E9967A", Icon = "modbus", PaletteLabel = "Modbus-Server",
    OutputLabels = ["holding", "coils", "input", "discrete", "requests"],
    Help = """
    A simulated Modbus TCP device: coils, discrete inputs, holding and input registers that
    Modbus clients (PLC tools, SCADA, mbpoll, our read/write nodes) read and write, and that the
    flow can set. Handy for testing flows without a PLC. Answers every unit id.

    ### Inputs
    : payload (object) : `{register, address, value, disableMsgOutput}`: *register* is
      `holding`, `coils`, `input` or `discrete`; *address* zero-based; *value* a number (registers,
      negative as 16-bit two's complement), a boolean or 0/1 (coils, discrete), or an array of
      those written from *address* on. Any other payload only emits the tables.

    ### Outputs
    1. holding : payload (buffer) : the holding registers, big-endian; `type` is `holding`.
    2. coils : payload (buffer) : the coils, 8 a byte, LSB first; `type` is `coils`.
    3. input : payload (buffer) : the input registers; `type` is `input`.
    4. discrete : payload (buffer) : the discrete inputs; `type` is `discrete`.
    5. requests : payload (object) : each write by a client: `{unitid, fc, address, quantity, client}`.

    ### Details
    Outputs 1-4 send after each input message unless `disableMsgOutput` is set. Table sizes
    are in bytes, as node-red-contrib-modbus has them. Out-of-range requests get exception 2
    (IllegalDataAddress), unknown function codes exception 1. A client connection that stays
    silent for 5 minutes, or sends part of a request and not the rest within 5 s, is closed.
    """)]
public sealed class ModbusServerNode : FlowNode<ModbusServerOptions>
{
    readonly Channel<ModbusRequestInfo> _writes = Channel.CreateBounded<ModbusRequestInfo>(new BoundedChannelOptions(1000) { FullMode = BoundedChannelFullMode.DropOldest });
    ModbusTcpServer? _server;
    Task _pump = Task.CompletedTask;

    /// <summary>The device memory (for tests and for the flow).</summary>
    public ModbusDataModel Model { get; private set; } = null!;
    /// <summary>The bound port.</summary>
    public int Port => _server?.Port ?? 0;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        static int Registers(int bytes) => Math.Clamp(bytes / 2, 0, 65536);
        static int Bits(int bytes) => (int)Math.Clamp(bytes * 8L, 0, 65536);
        Model = new ModbusDataModel(Bits(Options.CoilsBufferSize), Bits(Options.DiscreteBufferSize), Registers(Options.HoldingBufferSize), Registers(Options.InputBufferSize));
        var host = Options.Hostname.Trim() is { Length: > 0 } h ? h : "0.0.0.0";
        _server = new ModbusTcpServer(Model, IPAddress.Parse(host), Options.ServerPort)
        {
            ResponseDelay = Options.DelayUnit switch
            {
                "s" => TimeSpan.FromSeconds(Options.ResponseDelay),
                "m" => TimeSpan.FromMinutes(Options.ResponseDelay),
                "h" => TimeSpan.FromHours(Options.ResponseDelay),
                _ => TimeSpan.FromMilliseconds(Options.ResponseDelay),
            },
        };
        _server.RequestHandled += info => { if (info.IsWrite && info.Exception is null) _writes.Writer.TryWrite(info); };
        try { _server.Start(); }
        catch (System.Net.Sockets.SocketException e)
        {
            Context.SetStatus(NodeStatus.Failed($"cannot listen on {host}:{Options.ServerPort}"));
            throw new FlowNodeException($"modbus-server cannot listen on {host}:{Options.ServerPort}: {e.Message}");
        }
        Context.SetStatus(NodeStatus.Ok($"listening on {Options.ServerPort}"));
        _pump = Task.Run(PumpWritesAsync);
        return Task.CompletedTask;
    }

    async Task PumpWritesAsync()
    {
        try
        {
            await foreach (var info in _writes.Reader.ReadAllAsync(Context.Stopping))
            {
                if (Options.LogEnabled) Context.Log($"client {info.Client} wrote fc {info.Function} at {info.Address}+{info.Quantity}");
                var message = new FlowMessage
                {
                    Payload = new Dictionary<string, object?>
                    {
                        ["unitid"] = (double)info.UnitId,
                        ["fc"] = (double)info.Function,
                        ["address"] = (double)info.Address,
                        ["quantity"] = (double)info.Quantity,
                        ["client"] = info.Client?.ToString(),
                    },
                    ["type"] = "request",
                };
                await Context.SendAsync(4, message, Context.Stopping);
            }
        }
        catch (OperationCanceledException) { }
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var disableOutput = false;
        if (message.Payload is Dictionary<string, object?> request && request.ContainsKey("register"))
        {
            disableOutput = MessageValue.IsTruthy(request.GetValueOrDefault("disableMsgOutput"));
            var register = MessageValue.ToText(request["register"]);
            var address = ModbusNodeSupport.IntegerFrom(request.GetValueOrDefault("address"), "payload.address", 0, 65535);
            var value = request.GetValueOrDefault("value");
            var values = value is List<object?> list ? list : [value];
            try
            {
                switch (register)
                {
                    case "holding": Model.WriteHoldingRegisters(address, values.Select((v, i) => ModbusNodeSupport.RegisterFrom(v, $"payload.value[{i}]")).ToArray()); break;
                    case "input": Model.WriteInputRegisters(address, values.Select((v, i) => ModbusNodeSupport.RegisterFrom(v, $"payload.value[{i}]")).ToArray()); break;
                    case "coils": Model.WriteCoils(address, values.Select((v, i) => ModbusNodeSupport.CoilFrom(v, $"payload.value[{i}]")).ToArray()); break;
                    case "discrete": Model.WriteDiscreteInputs(address, values.Select((v, i) => ModbusNodeSupport.CoilFrom(v, $"payload.value[{i}]")).ToArray()); break;
                    default: throw new FlowNodeException($"payload.register must be holding, coils, input or discrete, got '{register}'");
                }
            }
            catch (ModbusException)
            {
                throw new FlowNodeException($"modbus-server: {register} {address}+{values.Count} is outside the table");
            }
        }
        if (disableOutput) return;
        await Context.SendAsync(0, Table("holding", Registers(Model.ReadHoldingRegisters(0, Model.HoldingRegisterCount))), cancellationToken);
        await Context.SendAsync(1, Table("coils", ModbusPdu.PackBits(Model.ReadCoils(0, Model.CoilCount))), cancellationToken);
        await Context.SendAsync(2, Table("input", Registers(Model.ReadInputRegisters(0, Model.InputRegisterCount))), cancellationToken);
        await Context.SendAsync(3, Table("discrete", ModbusPdu.PackBits(Model.ReadDiscreteInputs(0, Model.DiscreteInputCount))), cancellationToken);
    }

    static FlowMessage Table(string type, byte[] bytes) => new() { Payload = bytes, ["type"] = type };

    static byte[] Registers(ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(i * 2), values[i]);
        return bytes;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _writes.Writer.TryComplete();
        if (_server is not null) await _server.DisposeAsync();
        await _pump;
    }
}
