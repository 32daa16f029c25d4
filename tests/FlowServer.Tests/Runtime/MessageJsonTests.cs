using FlowServer.Nodes.Sdk;
using Xunit;

namespace FlowServer.Tests.Runtime;

public sealed class MessageJsonTests
{
    // Whole numbers are written as integers (faster than the double format); the text must be
    // what JSON.stringify gives, here asked of a JavaScript engine (Jint) for the same values.
    // (Exponent forms still differ in case and padding, 1E-07 against 1e-7: both valid JSON.)
    public static TheoryData<double> Numbers => new()
    {
        0, -0.0, 1, -1, 42, 1.5, -2.25, 0.1 + 0.2, 122.00000000000001, 1764720000000, -123456789012,
        1e15, 1e15 + 1, 4503599627370497, 9007199254740991, 9007199254740992, -9007199254740992,
        double.NaN, double.PositiveInfinity, double.NegativeInfinity,
    };

    [Theory]
    [MemberData(nameof(Numbers))]
    public void A_number_is_written_as_json_stringify_writes_it(double value)
    {
        var engine = new Jint.Engine();
        engine.SetValue("value", value);
        var expected = Jint.JsValueExtensions.AsString(engine.Evaluate("JSON.stringify({v: value})"));

        Assert.Equal(expected, MessageJson.Serialize(new Dictionary<string, object?> { ["v"] = value }));
    }

    // The writer is kept per thread: a value whose ToString serializes again, a failed write
    // and a payload too large to keep must not spoil the next result.
    sealed class SerializesItself
    {
        public override string ToString() => MessageJson.Serialize(new Dictionary<string, object?> { ["inner"] = 1.0 });
    }

    [Fact]
    public void Serializing_again_from_inside_a_value_and_after_a_large_or_failed_write_gives_whole_texts()
    {
        Assert.Equal("1", MessageJson.Serialize(1.0)); // this thread now keeps a writer
        Assert.Equal("""{"a":"{\"inner\":1}","b":2}""", MessageJson.Serialize(new Dictionary<string, object?> { ["a"] = new SerializesItself(), ["b"] = 2.0 }));

        var large = new string('x', 100_000);
        Assert.Equal(100_002, MessageJson.SerializeToUtf8(large).Length);

        var tooDeep = new List<object?>();
        var inner = tooDeep;
        for (var i = 0; i < 2000; i++) { var next = new List<object?>(); inner.Add(next); inner = next; }
        Assert.ThrowsAny<Exception>(() => MessageJson.SerializeToUtf8(tooDeep));

        Assert.Equal("""{"x":[1,true,null]}""", MessageJson.Serialize(new Dictionary<string, object?> { ["x"] = new List<object?> { 1.0, true, null } }));
    }
}
