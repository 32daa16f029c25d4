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
}
