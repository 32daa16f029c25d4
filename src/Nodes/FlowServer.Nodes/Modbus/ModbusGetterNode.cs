using System.Text.Json.Serialization;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

public sealed class ModbusGetterOptions : NodeOptions, IModbusClientOptions
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

    [Property("quantity", Required = true, Editor = PropertyEditor.Number, Min = 1, Max = 65535)]
    public int Quantity { get; set; } = 1;

    [Property("keepMsgProperties", Editor = PropertyEditor.Checkbox, Help = "Outputs keep the properties of the input message")]
    public bool KeepMsgProperties { get; set; }

    [Property("showStatusActivities", Editor = PropertyEditor.Checkbox)] public bool ShowStatusActivities { get; set; }
    [Property("showErrors", Editor = PropertyEditor.Checkbox)] public bool ShowErrors { get; set; }
    [Property("logIOActivities", Editor = PropertyEditor.Hidden)] public bool LogIOActivities { get; set; }
    [Property("useIOFile", Editor = PropertyEditor.Hidden)] public bool UseIOFile { get; set; }
    [Property("ioFile", Editor = PropertyEditor.Hidden)] public string IoFile { get; set; } = "";
    [Property("useIOForPayload", Editor = PropertyEditor.Hidden)] public bool UseIOForPayload { get; set; }
    [Property("emptyMsgOnFail", Editor = PropertyEditor.Checkbox)] public bool EmptyMsgOnFail { get; set; }

    [JsonIgnore] public byte? Unit { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (!ModbusNodeSupport.TryParseUnitId(UnitId, out var unit)) yield return new OptionError("unitid", $"must be empty or 0..255, got '{UnitId}'");
        Unit = unit;
        if (Address + Quantity > 65536) yield return new OptionError("quantity", $"address {Address} + quantity {Quantity} passes 65535");
    }
}

[NodeType("modbus-getter", Category = "network", Inputs = 1, Outputs = 2, Color = "#E9967A", Icon = "modbus", PaletteLabel = "Modbus-Getter",
    OutputLabels = ["values", "response"],
    Help = """
    Reads coils, inputs or registers of a Modbus TCP device each time a message arrives.

    ### Inputs
    : any (any) : triggers one read with the configured settings.

    ### Outputs
    1. values
    : payload (array) : the values read.
    : responseBuffer (object) : `{data, buffer}`.
    2. response
    : payload (object) : `{data, buffer}`.
    : values (array) : the values read.

    ### Details
    As *modbus-read* without the timer. With *keepMsgProperties* the outputs carry the input
    message's properties (needed with split/join); otherwise the input is in `msg.input`.
    A failed read is an error with the input message, so a catch node can react.
    """)]
public sealed class ModbusGetterNode : ModbusClientNode<ModbusGetterOptions>
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var function = ModbusNodeSupport.ReadFunction(Options.DataType);
        return ExchangeAsync(message, $"modbus-getter {ClientNode.Endpoint} {Options.DataType} {Options.Address}+{Options.Quantity}", "read done",
            () => ModbusNodeSupport.ReadAsync(ClientNode.Client, function, Options.Address, Options.Quantity, Options.Unit, cancellationToken),
            values => values, Options.Topic, Options.KeepMsgProperties, cancellationToken);
    }
}
