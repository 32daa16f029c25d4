using System.Text;
using FlowServer.Nodes.Modbus;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Modbus;

/// <summary>
/// modbus-decode against values encoded independently: BitConverter gives the bytes, the test
/// lays them into registers for each byte and word order the way devices do.
/// </summary>
public sealed class ModbusDecodeNodeTests
{
    /// <summary>Big-endian bytes → registers with the given orders (the device's view).</summary>
    static List<object?> Registers(byte[] bigEndian, string byteOrder, string wordOrder)
    {
        var words = new List<ushort>();
        for (var i = 0; i < bigEndian.Length; i += 2)
        {
            var (high, low) = byteOrder == "AB" ? (bigEndian[i], bigEndian[i + 1]) : (bigEndian[i + 1], bigEndian[i]);
            words.Add((ushort)(high << 8 | low));
        }
        if (wordOrder == "BA") words.Reverse();
        return words.Select(w => (object?)(double)w).ToList();
    }

    static byte[] BigEndian(byte[] littleEndian) => BitConverter.IsLittleEndian ? littleEndian.Reverse().ToArray() : littleEndian;

    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var type in new[] { "int16", "uint16", "int32", "uint32", "float32", "float64" })
            foreach (var byteOrder in new[] { "AB", "BA" })
                foreach (var wordOrder in new[] { "AB", "BA" })
                    data.Add(type, byteOrder, wordOrder);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Decodes_numbers_in_every_byte_and_word_order(string type, string byteOrder, string wordOrder)
    {
        var (bytes, expected) = type switch
        {
            "int16" => (BigEndian(BitConverter.GetBytes((short)-12345)), -12345.0),
            "uint16" => (BigEndian(BitConverter.GetBytes((ushort)54321)), 54321.0),
            "int32" => (BigEndian(BitConverter.GetBytes(-123456789)), -123456789.0),
            "uint32" => (BigEndian(BitConverter.GetBytes(3_000_000_000u)), 3_000_000_000.0),
            "float32" => (BigEndian(BitConverter.GetBytes(-273.15f)), (double)-273.15f),
            _ => (BigEndian(BitConverter.GetBytes(6.02214076e23)), 6.02214076e23),
        };
        var registers = new List<object?> { 0xFFFF * 1.0 }; // the value starts at register 1
        registers.AddRange(Registers(bytes, byteOrder, wordOrder));

        await using var flow = await StartAsync(Flow(
            new { id = "dec", type = "modbus-decode", tags = new[] { new { name = "v", type, register = 1, byteOrder, wordOrder } }, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        await flow.SendAsync("dec", registers);
        var result = (Dictionary<string, object?>)(await flow.NextAsync("out")).Payload!;

        Assert.Equal(expected, result["v"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Decodes_a_tag_map_with_scale_offset_bits_and_strings_from_a_buffer()
    {
        var bytes = new List<byte>();
        bytes.AddRange(BigEndian(BitConverter.GetBytes((short)215)));        // r0: temperature ×0.1
        bytes.AddRange(BigEndian(BitConverter.GetBytes((ushort)0b1010_0000_0000_0101))); // r1: status bits
        bytes.AddRange(Encoding.ASCII.GetBytes("PUMP-7\0\0"));              // r2..r5: name
        bytes.AddRange(BigEndian(BitConverter.GetBytes((ushort)400)));      // r6: pressure raw, 4..20 mA style
        await using var flow = await StartAsync(Flow(
            new
            {
                id = "dec", type = "modbus-decode",
                tags = new object[]
                {
                    new { name = "temperature", type = "int16", register = 0, scale = 0.1 },
                    new { name = "running", type = "bit", register = 1, bit = 0 },
                    new { name = "alarm", type = "bit", register = 1, bit = 1 },
                    new { name = "door", type = "bit", register = 1, bit = 15 },
                    new { name = "name", type = "string", register = 2, length = 8 },
                    new { name = "pressure", type = "uint16", register = 6, scale = 0.25, offset = -10 },
                },
                wires = new[] { new[] { "out" } },
            },
            new { id = "out", type = "test-capture" }));

        await flow.SendAsync("dec", bytes.ToArray());
        var result = (Dictionary<string, object?>)(await flow.NextAsync("out")).Payload!;

        Assert.Equal(21.5, (double)result["temperature"]!, 9);
        Assert.Equal(true, result["running"]);
        Assert.Equal(false, result["alarm"]);
        Assert.Equal(true, result["door"]);
        Assert.Equal("PUMP-7", result["name"]);
        Assert.Equal(90.0, result["pressure"]);
    }

    [Theory]
    [InlineData("AB")]
    [InlineData("BA")]
    public async Task Decodes_strings_and_bits_in_either_byte_order(string byteOrder)
    {
        var bytes = new List<byte>();
        bytes.AddRange(BigEndian(BitConverter.GetBytes((ushort)0b1000_0000_0000_0010))); // r0: bits 1 and 15
        bytes.AddRange(Encoding.ASCII.GetBytes("VALVE\0"));                          // r1..r3: 5 characters
        bytes.AddRange(BigEndian(BitConverter.GetBytes((short)-42)));                 // r4
        var registers = Registers(bytes.ToArray(), byteOrder, "AB"); // BA: the device stores each register's bytes swapped
        await using var flow = await StartAsync(Flow(
            new
            {
                id = "dec", type = "modbus-decode",
                tags = new object[]
                {
                    new { name = "b0", type = "bit", register = 0, bit = 0, byteOrder },
                    new { name = "b1", type = "bit", register = 0, bit = 1, byteOrder },
                    new { name = "b9", type = "bit", register = 0, bit = 9, byteOrder },
                    new { name = "b15", type = "bit", register = 0, bit = 15, byteOrder },
                    new { name = "valve", type = "string", register = 1, length = 5, byteOrder },
                    new { name = "level", type = "int16", register = 4, byteOrder, scale = 0.5 },
                },
                wires = new[] { new[] { "out" } },
            },
            new { id = "out", type = "test-capture" }));

        await flow.SendAsync("dec", registers);
        var result = (Dictionary<string, object?>)(await flow.NextAsync("out")).Payload!;

        Assert.Equal(false, result["b0"]);
        Assert.Equal(true, result["b1"]);
        Assert.Equal(false, result["b9"]);
        Assert.Equal(true, result["b15"]);
        Assert.Equal("VALVE", result["valve"]);
        Assert.Equal(-21.0, result["level"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_tag_beyond_the_registers_is_an_error_naming_the_tag()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "dec", type = "modbus-decode", tags = new[] { new { name = "energy", type = "float64", register = 2 } }, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));

        await flow.SendAsync("dec", new List<object?> { 1.0, 2.0, 3.0 });

        var error = await flow.WaitForErrorAsync("energy");
        Assert.Contains("registers 2..5", error);
    }

    [Fact]
    public void Bad_tag_rows_are_refused_at_deploy()
    {
        var errors = Validate(Flow(new
        {
            id = "dec", type = "modbus-decode",
            tags = new object[]
            {
                new { name = "a", type = "int24" },
                new { name = "a", type = "bit", bit = 16 },
                new { name = "", type = "uint16", wordOrder = "CDAB" },
            },
        }));
        var text = string.Join("\n", errors.Select(e => e.Text));
        Assert.Contains("int24", text);
        Assert.Contains("used twice", text);
        Assert.Contains("bit must be 0..15", text);
        Assert.Contains("name is required", text);
        Assert.Contains("wordOrder", text);
    }
}
