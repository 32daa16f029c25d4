using System.Text.Json.Serialization;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

public sealed class ModbusReadOptions : NodeOptions, IModbusClientOptions
{
    [Property("name")] public string Name { get; set; } = "";
    [Property("topic")] public string Topic { get; set; } = "";

    [Property("server", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "modbus-client", Label = "Server")]
    public string Server { get; set; } = "";

    [Property("unitid", Label = "Unit-Id", Help = "0..255; empty uses the client's unit id")]
    public string UnitId { get; set; } = "";

    [Property("dataType", Required = true, Editor = PropertyEditor.Select, Choices = ["Coil", "Input", "HoldingRegister", "InputRegister"], Label = "FC")]
    public string DataType { get; set; } = "HoldingRegister";

    [Property("adr", Required = true, Editor = PropertyEditor.Number, Min = 0, Max = 65535, Label = "Address")]
    public int Address { get; set; }

    [Property("quantity", Required = true, Editor = PropertyEditor.Number, Min = 1, Max = 65535, Help = "Reads beyond 125 registers / 2000 bits are split into several requests")]
    public int Quantity { get; set; } = 1;

    [Property("rate", Required = true, Editor = PropertyEditor.Number, Label = "Poll rate")]
    public double Rate { get; set; } = 1;

    [Property("rateUnit", Required = true, Editor = PropertyEditor.Select, Choices = ["ms", "s", "m", "h"])]
    public string RateUnit { get; set; } = "s";

    [Property("delayOnStart", Editor = PropertyEditor.Checkbox)] public bool DelayOnStart { get; set; }
    [Property("startDelayTime", Editor = PropertyEditor.Number, Min = 0, Help = "Seconds before the first poll")] public double StartDelayTime { get; set; }
    [Property("showStatusActivities", Editor = PropertyEditor.Checkbox)] public bool ShowStatusActivities { get; set; }
    [Property("showErrors", Editor = PropertyEditor.Checkbox)] public bool ShowErrors { get; set; }
    [Property("logIOActivities", Editor = PropertyEditor.Hidden)] public bool LogIOActivities { get; set; }
    [Property("useIOFile", Editor = PropertyEditor.Hidden, Help = "IO files are not supported")] public bool UseIOFile { get; set; }
    [Property("ioFile", Editor = PropertyEditor.Hidden)] public string IoFile { get; set; } = "";
    [Property("useIOForPayload", Editor = PropertyEditor.Hidden)] public bool UseIOForPayload { get; set; }
    [Property("emptyMsgOnFail", Editor = PropertyEditor.Checkbox, Help = "On a failed poll send a message with an empty payload and the error")]
    public bool EmptyMsgOnFail { get; set; }

    [JsonIgnore] public byte? Unit { get; private set; }
    [JsonIgnore] public TimeSpan Period { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (!ModbusNodeSupport.TryParseUnitId(UnitId, out var unit)) yield return new OptionError("unitid", $"must be empty or 0..255, got '{UnitId}'");
        Unit = unit;
        if (Address + Quantity > 65536) yield return new OptionError("quantity", $"address {Address} + quantity {Quantity} passes 65535");
        if (Rate <= 0) yield return new OptionError("rate", $"must be greater than 0, got {MessageValue.FormatNumber(Rate)}");
        Period = RateUnit switch
        {
            "ms" => TimeSpan.FromMilliseconds(Rate),
            "m" => TimeSpan.FromMinutes(Rate),
            "h" => TimeSpan.FromHours(Rate),
            _ => TimeSpan.FromSeconds(Rate),
        };
        if (Rate > 0 && Period < TimeSpan.FromMilliseconds(1)) yield return new OptionError("rate", "must be at least 1 ms");
    }
}

[NodeType("modbus-read", Category = "network", Inputs = 0, Outputs = 2, Color = "#E9967A", Icon = "modbus", PaletteLabel = "Modbus-Read",
    OutputLabels = ["values", "response"],
    Help = """
    Polls coils, discrete inputs, holding or input registers of a Modbus TCP device at a fixed rate.

    ### Outputs
    1. values
    : payload (array) : the values read: booleans for Coil/Input, numbers 0..65535 for registers.
    : responseBuffer (object) : `{data, buffer}`: the values and the raw data bytes (big-endian registers or packed bits).
    : input (object) : the poll request `{payload: {unitid, fc, address, quantity}}`.
    2. response
    : payload (object) : `{data, buffer}` as above.
    : values (array) : the values read.

    ### Details
    *dataType* selects FC 1 (Coil), 2 (Input), 3 (HoldingRegister) or 4 (InputRegister); *adr*
    is the zero-based start address, *quantity* the count (split into several requests beyond the
    protocol's 125 registers / 2000 bits). *rate* with *rateUnit* (ms, s, m, h) is the poll period.

    Polls never pile up: when the previous poll is still running at the next tick (a slow or
    unreachable device), that cycle is skipped and counted; the status shows the count. While
    the device is unreachable the status is red and the error is reported once per change, not
    once per poll; polling resumes by itself when the device is back.
    """)]
public sealed class ModbusReadNode : ModbusClientNode<ModbusReadOptions>, IMetricsSource
{
    Timer? _timer;
    int _busy;
    long _polls, _skipped, _failures;
    string? _lastError;

    /// <summary>Polls that completed successfully.</summary>
    public long Polls => Interlocked.Read(ref _polls);
    /// <summary>Ticks skipped because the previous poll was still running.</summary>
    public long SkippedCycles => Interlocked.Read(ref _skipped);
    public long Failures => Interlocked.Read(ref _failures);

    public IEnumerable<NodeMetric> Metrics =>
    [
        new("modbus_polls_total", "Polls a modbus-read node completed.", "counter", Polls),
        new("modbus_skipped_polls_total", "Poll cycles skipped because the previous poll was still running.", "counter", SkippedCycles),
        new("modbus_failed_polls_total", "Polls that failed (timeout, exception, no connection).", "counter", Failures),
    ];

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken);
        var first = Options.DelayOnStart ? TimeSpan.FromSeconds(Options.StartDelayTime) : TimeSpan.Zero;
        _timer = new Timer(_ => Tick(), null, first, Options.Period);
    }

    void Tick()
    {
        if (Context.Stopping.IsCancellationRequested) return;
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            Interlocked.Increment(ref _skipped);
            return;
        }
        _ = PollAsync();
    }

    async Task PollAsync()
    {
        var function = ModbusNodeSupport.ReadFunction(Options.DataType);
        var request = new FlowMessage
        {
            Topic = Options.Topic,
            Payload = new Dictionary<string, object?>
            {
                ["unitid"] = (double)(Options.Unit ?? ClientNode.Client.Options.UnitId),
                ["fc"] = (double)(byte)function,
                ["address"] = (double)Options.Address,
                ["quantity"] = (double)Options.Quantity,
            },
        };
        try
        {
            var (values, buffer) = await ModbusNodeSupport.ReadAsync(ClientNode.Client, function, Options.Address, Options.Quantity, Options.Unit, Context.Stopping);
            Interlocked.Increment(ref _polls);
            if (_lastError is not null) { _lastError = null; Context.Log($"polling {ClientNode.Endpoint} again"); }
            var skipped = SkippedCycles;
            Context.SetStatus(NodeStatus.Ok(skipped > 0 ? $"polling · {skipped} skipped" : "polling"));
            var (first, second) = ModbusNodeSupport.Outputs(values, values, buffer, request, Options.Topic, keep: false);
            await Context.SendAsync(0, first, Context.Stopping);
            await Context.SendAsync(1, second, Context.Stopping);
        }
        catch (Exception e) when (ModbusNodeSupport.IsReportable(e, Context.Stopping))
        {
            Interlocked.Increment(ref _failures);
            var text = $"modbus-read {ClientNode.Endpoint} {Options.DataType} {Options.Address}+{Options.Quantity}: {ModbusNodeSupport.Describe(e)}";
            Context.SetStatus(NodeStatus.Failed(ModbusNodeSupport.Describe(e)));
            // One report per kind of failure: a device that is down for an hour is one error, not
            // 36 000 (connection messages vary with the backoff countdown, so they share one key).
            var key = e is ModbusConnectionException ? "connection" : ModbusNodeSupport.Describe(e);
            if (key != _lastError)
            {
                _lastError = key;
                Context.ReportError(text, request);
            }
            if (Options.EmptyMsgOnFail)
            {
                request.Payload = "";
                request["error"] = text;
                try { await Context.SendAsync(0, request, Context.Stopping); } catch (OperationCanceledException) { }
            }
        }
        catch (Exception) { /* stopping */ }
        finally { Volatile.Write(ref _busy, 0); }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is not null) await _timer.DisposeAsync();
        await base.StopAsync(cancellationToken);
    }
}
