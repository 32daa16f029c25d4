using System.Buffers.Binary;
using System.Globalization;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

/// <summary>What the Modbus nodes share: value conversion, message shapes and status.</summary>
static class ModbusNodeSupport
{
    public static readonly string[] ReadTypes = ["Coil", "Input", "HoldingRegister", "InputRegister"];

    public static ModbusFunction ReadFunction(string dataType) => dataType switch
    {
        "Coil" => ModbusFunction.ReadCoils,
        "Input" => ModbusFunction.ReadDiscreteInputs,
        "HoldingRegister" => ModbusFunction.ReadHoldingRegisters,
        "InputRegister" => ModbusFunction.ReadInputRegisters,
        _ => throw new FlowNodeException($"unknown dataType '{dataType}'"),
    };

    /// <summary>An empty unit id means the client's default; otherwise 0..255.</summary>
    public static bool TryParseUnitId(string? text, out byte? unitId)
    {
        unitId = null;
        if (string.IsNullOrWhiteSpace(text)) return true;
        if (!int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value is < 0 or > 255) return false;
        unitId = (byte)value;
        return true;
    }

    public static byte? UnitIdFrom(object? value, string field)
    {
        if (value is null || value is string { Length: 0 }) return null;
        var number = MessageValue.ToNumber(value);
        if (double.IsNaN(number) || number != Math.Floor(number) || number is < 0 or > 255) throw new FlowNodeException($"{field} must be 0..255, got {MessageValue.ToText(value)}");
        return (byte)number;
    }

    public static int IntegerFrom(object? value, string field, int min, int max)
    {
        var number = MessageValue.ToNumber(value);
        if (value is null || double.IsNaN(number) || number != Math.Floor(number) || number < min || number > max)
            throw new FlowNodeException($"{field} must be an integer {min}..{max}, got {(value is null ? "nothing" : MessageValue.ToText(value))}");
        return (int)number;
    }

    public static ushort RegisterFrom(object? value, string field)
    {
        // Negative numbers are accepted as their 16-bit two's complement (a signed register).
        var number = MessageValue.ToNumber(value);
        if (value is null || double.IsNaN(number) || number != Math.Floor(number) || number is < -32768 or > 65535)
            throw new FlowNodeException($"{field} must be a register value 0..65535 (or -32768..-1), got {(value is null ? "nothing" : MessageValue.ToText(value))}");
        return unchecked((ushort)(int)number);
    }

    public static bool CoilFrom(object? value, string field) => value switch
    {
        bool b => b,
        string s when s.Trim().ToLowerInvariant() is "true" or "1" or "on" => true,
        string s when s.Trim().ToLowerInvariant() is "false" or "0" or "off" => false,
        _ when MessageValue.AsNumber(value) is 0 => false,
        _ when MessageValue.AsNumber(value) is 1 => true,
        _ => throw new FlowNodeException($"{field} must be true/false or 1/0, got {(value is null ? "nothing" : MessageValue.ToText(value))}"),
    };

    public static List<object?> ListFrom(object? value, string field) => value switch
    {
        List<object?> list => list,
        string s when s.Contains(',') => s.Split(',').Select(p => (object?)p.Trim()).ToList(),
        _ => throw new FlowNodeException($"{field} must be an array, got {MessageValue.TypeName(value)}"),
    };

    /// <summary>Reads and returns the values (bools or numbers) and the raw data bytes of the response.</summary>
    public static async Task<(List<object?> Values, byte[] Buffer)> ReadAsync(ModbusTcpClient client, ModbusFunction function, int address, int quantity, byte? unitId, CancellationToken cancellationToken)
    {
        if (function is ModbusFunction.ReadCoils or ModbusFunction.ReadDiscreteInputs)
        {
            var bits = await client.ReadBitsAsync(function, (ushort)address, quantity, unitId, cancellationToken);
            return (bits.Select(b => (object?)b).ToList(), ModbusPdu.PackBits(bits));
        }
        var registers = await client.ReadRegistersAsync(function, (ushort)address, quantity, unitId, cancellationToken);
        var buffer = new byte[registers.Length * 2];
        for (var i = 0; i < registers.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(i * 2), registers[i]);
        return (registers.Select(r => (object?)(double)r).ToList(), buffer);
    }

    /// <summary>
    /// The two outputs of node-red-contrib-modbus: 1 = values in <c>payload</c> with
    /// <c>responseBuffer</c> {data, buffer}; 2 = {data, buffer} in <c>payload</c> with <c>values</c>.
    /// With <paramref name="keep"/> the outputs are copies of <paramref name="input"/> (keepMsgProperties).
    /// </summary>
    public static (FlowMessage First, FlowMessage Second) Outputs(object? values, List<object?> data, byte[] buffer, FlowMessage input, string? topic, bool keep)
    {
        var first = keep ? input.Clone() : new FlowMessage();
        var second = keep ? input.Clone() : new FlowMessage();
        if (!keep) { first.MessageId = input.MessageId; second.MessageId = input.MessageId; }
        var text = string.IsNullOrEmpty(topic) ? input.Topic : topic;
        if (text is not null) { first.Topic = text; second.Topic = text; }
        first.Payload = values;
        first["responseBuffer"] = Response(data, buffer);
        second.Payload = Response(data, buffer);
        second["values"] = MessageValue.DeepClone(values);
        if (!keep)
        {
            first["input"] = MessageValue.DeepClone(input.Properties);
            second["input"] = MessageValue.DeepClone(input.Properties);
        }
        return (first, second);
    }

    static Dictionary<string, object?> Response(List<object?> data, byte[] buffer) =>
        new() { ["data"] = MessageValue.DeepClone(data), ["buffer"] = buffer.ToArray() };

    /// <summary>
    /// Writes with FC 5, 6, 15 or 16 from a message value; returns the values written (as
    /// message values) and the request's data bytes for the response outputs.
    /// </summary>
    public static async Task<(List<object?> Values, byte[] Buffer)> WriteAsync(ModbusTcpClient client, int fc, int address, int? quantity, object? value, byte? unitId, CancellationToken cancellationToken)
    {
        switch (fc)
        {
            case 5:
            {
                var coil = CoilFrom(value is List<object?> { Count: 1 } one ? one[0] : value, "payload");
                await client.WriteSingleCoilAsync((ushort)address, coil, unitId, cancellationToken);
                return ([coil], [coil ? (byte)1 : (byte)0]);
            }
            case 6:
            {
                var register = RegisterFrom(value is List<object?> { Count: 1 } one ? one[0] : value, "payload");
                await client.WriteSingleRegisterAsync((ushort)address, register, unitId, cancellationToken);
                return ([(double)register], [(byte)(register >> 8), (byte)register]);
            }
            case 15:
            {
                var coils = Take(ListFrom(value, "payload"), quantity).Select((v, i) => CoilFrom(v, $"payload[{i}]")).ToArray();
                await client.WriteMultipleCoilsAsync((ushort)address, coils, unitId, cancellationToken);
                return (coils.Select(c => (object?)c).ToList(), ModbusPdu.PackBits(coils));
            }
            case 16:
            {
                var registers = Take(ListFrom(value, "payload"), quantity).Select((v, i) => RegisterFrom(v, $"payload[{i}]")).ToArray();
                await client.WriteMultipleRegistersAsync((ushort)address, registers, unitId, cancellationToken);
                var buffer = new byte[registers.Length * 2];
                for (var i = 0; i < registers.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(i * 2), registers[i]);
                return (registers.Select(r => (object?)(double)r).ToList(), buffer);
            }
            default:
                throw new FlowNodeException($"fc must be 5, 6, 15 or 16, got {fc}");
        }
    }

    // The package writes `quantity` values; a longer array is cut, a shorter one is an error.
    static List<object?> Take(List<object?> values, int? quantity)
    {
        if (values.Count == 0) throw new FlowNodeException("payload is an empty array");
        if (quantity is not { } q || q <= 0) return values;
        if (values.Count < q) throw new FlowNodeException($"payload has {values.Count} values, quantity is {q}");
        return values.Take(q).ToList();
    }

    public static string Describe(Exception e) => e switch
    {
        ModbusException m => $"Modbus exception {(byte)m.Code} {m.Name}",
        ArgumentOutOfRangeException a => a.Message.Split(" (Parameter", 2)[0],
        _ => e.Message,
    };

    /// <summary>True for failures the node reports (device and input problems), false for shutdown.</summary>
    public static bool IsReportable(Exception e, CancellationToken stopping) =>
        !(e is OperationCanceledException && stopping.IsCancellationRequested) && e is not ObjectDisposedException;
}
