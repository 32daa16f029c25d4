using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

public sealed class ModbusFlexWriteOptions : NodeOptions, IModbusClientOptions
{
    [Property("name")] public string Name { get; set; } = "";

    [Property("server", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "modbus-client", Label = "Server")]
    public string Server { get; set; } = "";

    [Property("keepMsgProperties", Editor = PropertyEditor.Checkbox)] public bool KeepMsgProperties { get; set; }
    [Property("showStatusActivities", Editor = PropertyEditor.Checkbox)] public bool ShowStatusActivities { get; set; }
    [Property("showErrors", Editor = PropertyEditor.Checkbox)] public bool ShowErrors { get; set; }
    [Property("emptyMsgOnFail", Editor = PropertyEditor.Checkbox)] public bool EmptyMsgOnFail { get; set; }
}

[NodeType("modbus-flex-write", Category = "network", Inputs = 1, Outputs = 2, Color = "#E9967A", Icon = "modbus", PaletteLabel = "Modbus-Flex-Write",
    OutputLabels = ["values", "response"],
    Help = """
    Writes what the message asks for: function code, address, quantity and value come from `msg.payload`.

    ### Inputs
    : payload (object) : `{value, fc, address, quantity, unitid}`: *fc* 5 (single coil), 6 (single
      register), 15 (coils) or 16 (registers); *value* a boolean/0-1, a number 0..65535 or an
      array; *unitid* optional.

    ### Outputs
    1. values
    : payload (object) : the input payload.
    : responseBuffer (object) : `{data, buffer}`.
    2. response
    : payload (object) : `{data, buffer}`.
    : values (object) : the input payload.

    ### Details
    Example (function node): `msg.payload = { value: [1, 2, 3], fc: 16, unitid: 1, address: 10, quantity: 3 }`.
    """)]
public sealed class ModbusFlexWriteNode : ModbusClientNode<ModbusFlexWriteOptions>
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message.Payload is not Dictionary<string, object?> request)
            throw new FlowNodeException($"modbus-flex-write: msg.payload must be an object {{value, fc, address, quantity, unitid}}, got {MessageValue.TypeName(message.Payload)}");
        var fc = ModbusNodeSupport.IntegerFrom(request.GetValueOrDefault("fc"), "payload.fc", 5, 16);
        var address = ModbusNodeSupport.IntegerFrom(request.GetValueOrDefault("address"), "payload.address", 0, 65535);
        int? quantity = request.GetValueOrDefault("quantity") is { } q ? ModbusNodeSupport.IntegerFrom(q, "payload.quantity", 1, 65535) : null;
        var unit = ModbusNodeSupport.UnitIdFrom(request.GetValueOrDefault("unitid"), "payload.unitid");
        return ExchangeAsync(message, $"modbus-flex-write {ClientNode.Endpoint} fc {fc} {address}", "write done",
            () => ModbusNodeSupport.WriteAsync(ClientNode.Client, fc, address, quantity, request.GetValueOrDefault("value"), unit, cancellationToken),
            _ => MessageValue.DeepClone(request), null, Options.KeepMsgProperties, cancellationToken);
    }
}
