using System.Text.Json.Serialization;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

public sealed class ModbusWriteOptions : NodeOptions, IModbusClientOptions
{
    [Property("name")] public string Name { get; set; } = "";

    [Property("server", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "modbus-client", Label = "Server")]
    public string Server { get; set; } = "";

    [Property("unitid", Label = "Unit-Id", Help = "0..255; empty uses the client's unit id")]
    public string UnitId { get; set; } = "";

    [Property("dataType", Required = true, Editor = PropertyEditor.Select, Choices = ["Coil", "HoldingRegister", "MCoils", "MHoldingRegisters"], Label = "FC")]
    public string DataType { get; set; } = "HoldingRegister";

    [Property("adr", Required = true, Editor = PropertyEditor.Number, Min = 0, Max = 65535, Label = "Address")]
    public int Address { get; set; }

    [Property("quantity", Editor = PropertyEditor.Number, Min = 1, Max = 65535, Help = "Values written by MCoils / MHoldingRegisters")]
    public int Quantity { get; set; } = 1;

    [Property("keepMsgProperties", Editor = PropertyEditor.Checkbox)] public bool KeepMsgProperties { get; set; }
    [Property("showStatusActivities", Editor = PropertyEditor.Checkbox)] public bool ShowStatusActivities { get; set; }
    [Property("showErrors", Editor = PropertyEditor.Checkbox)] public bool ShowErrors { get; set; }
    [Property("emptyMsgOnFail", Editor = PropertyEditor.Checkbox)] public bool EmptyMsgOnFail { get; set; }

    [JsonIgnore] public byte? Unit { get; private set; }

    [JsonIgnore] public int Function => DataType switch { "Coil" => 5, "HoldingRegister" => 6, "MCoils" => 15, _ => 16 };

    public override IEnumerable<OptionError> Validate()
    {
        if (!ModbusNodeSupport.TryParseUnitId(UnitId, out var unit)) yield return new OptionError("unitid", $"must be empty or 0..255, got '{UnitId}'");
        Unit = unit;
        if (DataType == "MCoils" && Quantity > ModbusLimits.MaxWriteBits) yield return new OptionError("quantity", $"MCoils writes at most {ModbusLimits.MaxWriteBits} coils, got {Quantity}");
        if (DataType == "MHoldingRegisters" && Quantity > ModbusLimits.MaxWriteRegisters) yield return new OptionError("quantity", $"MHoldingRegisters writes at most {ModbusLimits.MaxWriteRegisters} registers, got {Quantity}");
    }
}

[NodeType("modbus-write", Category = "network", Inputs = 1, Outputs = 2, Color = "#E9967A", Icon = "modbus", PaletteLabel = "Modbus-Write",
    OutputLabels = ["values", "response"],
    Help = """
    Writes the message payload to coils or holding registers of a Modbus TCP device.

    ### Inputs
    : payload (boolean | number | array) : Coil (FC 5): true/false or 1/0; HoldingRegister (FC 6):
      0..65535 (negative numbers as 16-bit two's complement); MCoils (FC 15): an array of booleans;
      MHoldingRegisters (FC 16): an array of numbers. An object `{value}` is also accepted.

    ### Outputs
    1. values
    : payload (any) : the values written.
    : responseBuffer (object) : `{data, buffer}`.
    2. response
    : payload (object) : `{data, buffer}`.
    : values (any) : the values written.

    ### Details
    For MCoils / MHoldingRegisters the first *quantity* values of the array are written. A device
    exception (e.g. IllegalDataAddress) or an unreachable device is an error with the message.
    """)]
public sealed class ModbusWriteNode : ModbusClientNode<ModbusWriteOptions>
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var value = message.Payload is Dictionary<string, object?> map && map.TryGetValue("value", out var inner) ? inner : message.Payload;
        var quantity = Options.Function is 15 or 16 ? Options.Quantity : (int?)null;
        return ExchangeAsync(message, $"modbus-write {ClientNode.Endpoint} {Options.DataType} {Options.Address}", "write done",
            () => ModbusNodeSupport.WriteAsync(ClientNode.Client, Options.Function, Options.Address, quantity, value, Options.Unit, cancellationToken),
            _ => MessageValue.DeepClone(message.Payload), null, Options.KeepMsgProperties, cancellationToken);
    }
}
