using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

/// <summary>One row of the tag map: where a value sits in the register array and how to read it.</summary>
public sealed class ModbusTag
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [Property("type", Editor = PropertyEditor.Select, Choices = ["int16", "uint16", "int32", "uint32", "float32", "float64", "string", "bit"])]
    [JsonPropertyName("type")] public string Type { get; set; } = "uint16";
    /// <summary>Zero-based index of the first register within the array.</summary>
    [JsonPropertyName("register")] public int Register { get; set; }
    /// <summary>Bytes within a register: AB = big-endian (Modbus standard), BA = swapped.</summary>
    [Property("byteOrder", Editor = PropertyEditor.Select, Choices = ["AB", "BA"])]
    [JsonPropertyName("byteOrder")] public string ByteOrder { get; set; } = "AB";
    /// <summary>Registers of a 32/64-bit value: AB = high word first (big), BA = low word first (little, "word swap").</summary>
    [Property("wordOrder", Editor = PropertyEditor.Select, Choices = ["AB", "BA"])]
    [JsonPropertyName("wordOrder")] public string WordOrder { get; set; } = "AB";
    [JsonPropertyName("scale")] public double Scale { get; set; } = 1;
    /// <summary>Added after scaling: value = raw × scale + offset.</summary>
    [JsonPropertyName("offset")] public double Offset { get; set; }
    /// <summary>For <c>bit</c>: 0 (least significant) .. 15.</summary>
    [JsonPropertyName("bit")] public int Bit { get; set; }
    /// <summary>For <c>string</c>: characters (bytes), two per register.</summary>
    [JsonPropertyName("length")] public int Length { get; set; } = 2;

    [JsonIgnore] public int Registers => Type switch
    {
        "int32" or "uint32" or "float32" => 2,
        "float64" => 4,
        "string" => (Length + 1) / 2,
        _ => 1,
    };
}

public sealed class ModbusDecodeOptions : NodeOptions
{
    static readonly string[] Types = PropertyAttribute.ChoicesOf(typeof(ModbusTag), nameof(ModbusTag.Type));

    [Property("name")] public string Name { get; set; } = "";

    [Property("property", Help = "Message property holding the registers (array of numbers, a Buffer, or modbus-read's {data, buffer})")]
    public string Property { get; set; } = "payload";

    [Property("target", Help = "Message property that receives the object of named values")]
    public string Target { get; set; } = "payload";

    [Property("tags", Editor = PropertyEditor.List, Help = "Rows of name, type, register, byteOrder, wordOrder, scale, offset, bit, length")]
    public List<ModbusTag> Tags { get; set; } = [];

    [JsonIgnore] public PropertyPath Source { get; private set; } = PropertyPath.Parse("payload");
    [JsonIgnore] public PropertyPath Destination { get; private set; } = PropertyPath.Parse("payload");

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        if (PropertyPath.TryParse(string.IsNullOrWhiteSpace(Property) ? "payload" : Property, out var source, out var error)) Source = source!;
        else errors.Add(new OptionError("property", error ?? "is not a property path"));
        if (PropertyPath.TryParse(string.IsNullOrWhiteSpace(Target) ? "payload" : Target, out var target, out error)) Destination = target!;
        else errors.Add(new OptionError("target", error ?? "is not a property path"));
        var names = new HashSet<string>();
        for (var i = 0; i < Tags.Count; i++)
        {
            var tag = Tags[i];
            var where = $"tag {i + 1}{(string.IsNullOrEmpty(tag.Name) ? "" : $" '{tag.Name}'")}";
            if (string.IsNullOrWhiteSpace(tag.Name)) errors.Add(new OptionError("tags", $"{where}: name is required"));
            else if (!names.Add(tag.Name)) errors.Add(new OptionError("tags", $"{where}: name is used twice"));
            if (!Types.Contains(tag.Type)) errors.Add(new OptionError("tags", $"{where}: type must be one of {string.Join(", ", Types)}, got '{tag.Type}'"));
            if (tag.ByteOrder is not ("AB" or "BA")) errors.Add(new OptionError("tags", $"{where}: byteOrder must be AB or BA, got '{tag.ByteOrder}'"));
            if (tag.WordOrder is not ("AB" or "BA")) errors.Add(new OptionError("tags", $"{where}: wordOrder must be AB or BA, got '{tag.WordOrder}'"));
            if (tag.Register is < 0 or > 65535) errors.Add(new OptionError("tags", $"{where}: register must be 0..65535"));
            if (tag.Type == "bit" && tag.Bit is < 0 or > 15) errors.Add(new OptionError("tags", $"{where}: bit must be 0..15, got {tag.Bit}"));
            if (tag.Type == "string" && tag.Length is < 1 or > 250) errors.Add(new OptionError("tags", $"{where}: length must be 1..250, got {tag.Length}"));
        }
        return errors;
    }
}

[NodeType("modbus-decode", Category = "network", Inputs = 1, Outputs = 1, Color = "#E9967A", Icon = "modbus", PaletteLabel = "Modbus-Decode",
    Help = """
    Turns an array of 16-bit registers into named engineering values: the tag map that is
    otherwise written by hand in a function node.

    ### Inputs
    : payload (array | buffer | object) : registers as numbers (modbus-read's output 1), a Buffer
      of big-endian registers, or `{data, buffer}` (output 2).

    ### Outputs
    : payload (object) : one property per tag, e.g. `{temperature: 21.5, running: true, serial: "AB12"}`.

    ### Details
    Each tag has a *name*, a *type* (int16, uint16, int32, uint32, float32, float64, string, bit)
    and the zero-based *register* within the array. 32- and 64-bit values span 2 or 4 registers:
    *wordOrder* AB takes the first register as the high word (big-endian, the Modbus default),
    BA the low word first ("word swap"). *byteOrder* BA swaps the two bytes inside each register
    (for strings too, and for bits before *bit* is counted).
    Numbers become `raw × scale + offset`. *bit* picks bit 0..15 of a register (true/false);
    *length* is a string's length in characters (two per register; trailing NULs and spaces are cut).
    A tag beyond the end of the array is an error naming the tag.
    """)]
public sealed class ModbusDecodeNode : FlowNode<ModbusDecodeOptions>
{
    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var registers = RegistersFrom(Options.Source.Get(message), Options.Source.Text);
        var result = new Dictionary<string, object?>(Options.Tags.Count);
        foreach (var tag in Options.Tags)
        {
            if (tag.Register + tag.Registers > registers.Length)
                throw new FlowNodeException($"modbus-decode tag '{tag.Name}' ({tag.Type}) needs registers {tag.Register}..{tag.Register + tag.Registers - 1}, the input has {registers.Length}");
            result[tag.Name] = Decode(tag, registers);
        }
        Options.Destination.Set(message, result);
        await Context.SendAsync(0, message, cancellationToken);
    }

    /// <summary>Decodes one tag from the register array (public for tests).</summary>
    public static object? Decode(ModbusTag tag, ReadOnlySpan<ushort> registers)
    {
        var words = registers.Slice(tag.Register, tag.Registers).ToArray();
        if (tag.ByteOrder == "BA")
            for (var i = 0; i < words.Length; i++) words[i] = BinaryPrimitives.ReverseEndianness(words[i]);
        // Bits are numbered in the register's value, after the byte swap: bit 0 is its least significant.
        if (tag.Type == "bit") return ((words[0] >> tag.Bit) & 1) == 1;
        if (tag.WordOrder == "BA" && tag.Type != "string") Array.Reverse(words);
        var bytes = new byte[words.Length * 2];
        for (var i = 0; i < words.Length; i++) BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(i * 2), words[i]);
        double raw = tag.Type switch
        {
            "int16" => BinaryPrimitives.ReadInt16BigEndian(bytes),
            "uint16" => BinaryPrimitives.ReadUInt16BigEndian(bytes),
            "int32" => BinaryPrimitives.ReadInt32BigEndian(bytes),
            "uint32" => BinaryPrimitives.ReadUInt32BigEndian(bytes),
            "float32" => BinaryPrimitives.ReadSingleBigEndian(bytes),
            "float64" => BinaryPrimitives.ReadDoubleBigEndian(bytes),
            "string" => double.NaN,
            _ => throw new FlowNodeException($"unknown tag type '{tag.Type}'"),
        };
        if (tag.Type == "string") return Encoding.Latin1.GetString(bytes, 0, tag.Length).TrimEnd('\0', ' ');
        // Skip the arithmetic when it is the identity, so a float keeps its exact value.
        return tag.Scale == 1 && tag.Offset == 0 ? raw : raw * tag.Scale + tag.Offset;
    }

    static ushort[] RegistersFrom(object? value, string property)
    {
        switch (value)
        {
            case List<object?> list:
                var registers = new ushort[list.Count];
                for (var i = 0; i < list.Count; i++)
                    registers[i] = ModbusNodeSupport.RegisterFrom(list[i], $"{property}[{i}]");
                return registers;
            case byte[] bytes:
                if (bytes.Length % 2 != 0) throw new FlowNodeException($"modbus-decode: {property} is a Buffer of {bytes.Length} bytes, not whole registers");
                var fromBytes = new ushort[bytes.Length / 2];
                for (var i = 0; i < fromBytes.Length; i++) fromBytes[i] = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(i * 2));
                return fromBytes;
            case Dictionary<string, object?> response when response.TryGetValue("data", out var data):
                return RegistersFrom(data, property + ".data");
            case Dictionary<string, object?> response when response.TryGetValue("buffer", out var buffer):
                return RegistersFrom(buffer, property + ".buffer");
            default:
                throw new FlowNodeException($"modbus-decode: {property} must be an array of registers or a Buffer, got {MessageValue.TypeName(value)}");
        }
    }
}
