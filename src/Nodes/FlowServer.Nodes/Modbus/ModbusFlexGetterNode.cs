using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

public sealed class ModbusFlexGetterOptions : NodeOptions, IModbusClientOptions
{
    [Property("name")] public string Name { get; set; } = "";

    [Property("server", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "modbus-client", Label = "Server")]
    public string Server { get; set; } = "";

    [Property("keepMsgProperties", Editor = PropertyEditor.Checkbox, Help = "Outputs keep the properties of the input message")]
    public bool KeepMsgProperties { get; set; }

    [Property("showStatusActivities", Editor = PropertyEditor.Checkbox)] public bool ShowStatusActivities { get; set; }
    [Property("showErrors", Editor = PropertyEditor.Checkbox)] public bool ShowErrors { get; set; }
    [Property("logIOActivities", Editor = PropertyEditor.Hidden)] public bool LogIOActivities { get; set; }
    [Property("useIOFile", Editor = PropertyEditor.Hidden)] public bool UseIOFile { get; set; }
    [Property("ioFile", Editor = PropertyEditor.Hidden)] public string IoFile { get; set; } = "";
    [Property("useIOForPayload", Editor = PropertyEditor.Hidden)] public bool UseIOForPayload { get; set; }
    [Property("emptyMsgOnFail", Editor = PropertyEditor.Checkbox)] public bool EmptyMsgOnFail { get; set; }
}

[NodeType("modbus-flex-getter", Category = "network", Inputs = 1, Outputs = 2, Color = "#E9967A", Icon = "modbus", PaletteLabel = "Modbus-Flex-Getter",
    OutputLabels = ["values", "response"],
    Help = """
    Reads what the message asks for: function code, address and quantity come from `msg.payload`.

    ### Inputs
    : payload (object) : `{fc, address, quantity, unitid}`: *fc* 1..4, *address* 0..65535,
      *quantity* 1..65535, *unitid* 0..255 (optional; the client's when missing).

    ### Outputs
    1. values
    : payload (array) : the values read.
    : responseBuffer (object) : `{data, buffer}`.
    2. response
    : payload (object) : `{data, buffer}`.
    : values (array) : the values read.

    ### Details
    One node can read many ranges and unit ids, driven by an inject or a function node.
    """)]
public sealed class ModbusFlexGetterNode : ModbusClientNode<ModbusFlexGetterOptions>
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message.Payload is not Dictionary<string, object?> request)
            throw new FlowNodeException($"modbus-flex-getter: msg.payload must be an object {{fc, address, quantity, unitid}}, got {MessageValue.TypeName(message.Payload)}");
        var fc = ModbusNodeSupport.IntegerFrom(request.GetValueOrDefault("fc"), "payload.fc", 1, 4);
        var address = ModbusNodeSupport.IntegerFrom(request.GetValueOrDefault("address"), "payload.address", 0, 65535);
        var quantity = ModbusNodeSupport.IntegerFrom(request.GetValueOrDefault("quantity") ?? 1.0, "payload.quantity", 1, 65535);
        var unit = ModbusNodeSupport.UnitIdFrom(request.GetValueOrDefault("unitid"), "payload.unitid");
        return ExchangeAsync(message, $"modbus-flex-getter {ClientNode.Endpoint} fc {fc} {address}+{quantity}", "read done",
            () => ModbusNodeSupport.ReadAsync(ClientNode.Client, (ModbusFunction)fc, address, quantity, unit, cancellationToken),
            values => values, null, Options.KeepMsgProperties, cancellationToken);
    }
}
