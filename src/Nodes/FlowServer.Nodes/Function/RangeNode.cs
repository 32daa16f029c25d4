using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Function;

public sealed class RangeOptions : NodeOptions
{
    [Property("minin", Required = true, Editor = PropertyEditor.Number, Label = "Input from")]
    public double? MinIn { get; set; }

    [Property("maxin", Required = true, Editor = PropertyEditor.Number, Label = "Input to")]
    public double? MaxIn { get; set; }

    [Property("minout", Required = true, Editor = PropertyEditor.Number, Label = "Output from")]
    public double? MinOut { get; set; }

    [Property("maxout", Required = true, Editor = PropertyEditor.Number, Label = "Output to")]
    public double? MaxOut { get; set; }

    [Property("action", Editor = PropertyEditor.Select, Choices = ["scale", "clamp", "roll", "drop"],
        Help = "scale: linear only; clamp: limit input to the input range first; roll: wrap within the input range; drop: drop inputs outside the input range")]
    public string Action { get; set; } = "scale";

    [Property("round", Editor = PropertyEditor.Checkbox, Label = "Round result to the nearest integer")]
    public bool Round { get; set; }

    [Property("property", Help = "Message property holding the number")]
    public string Property { get; set; } = "payload";

    public PropertyPath? Path { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (!PropertyPath.TryParse(string.IsNullOrEmpty(Property) ? "payload" : Property, out var path, out var error))
            yield return new OptionError("property", error!);
        Path = path;
        // Node-RED would divide by zero and send NaN/Infinity; a broken range is refused instead.
        if (MinIn is { } low && MaxIn is { } high && low == high)
            yield return new OptionError("maxin", $"must differ from minin (both are {MessageValue.FormatNumber(low)})");
    }
}

[NodeType("range", Category = "function", Inputs = 1, Outputs = 1, Color = "#e2d96e", Icon = "range",
    Help = """
    Maps a numeric value to a different range.

    ### Inputs
    : payload (number) : the value; any property can be chosen. Strings holding a number are converted.

    ### Outputs
    : payload (number) : the value mapped to the output range.

    ### Details
    The value is scaled linearly so that *minin*..*maxin* maps to *minout*..*maxout*.
    *Scale* only scales (values outside the input range land outside the output range);
    *clamp* limits the input to the input range first; *roll* wraps it within the input range
    (so 0–10 maps 12 to 2); *drop* discards messages whose value lies outside the input range.
    *round* rounds the result to the nearest integer (and, as in Node-RED, the output range to
    whole numbers first: *minout* up, *maxout* down). When *minin* is above *maxin*, both
    ranges are swapped, as Node-RED does.

    A message without the property passes through unchanged. A value that is not a number is
    logged and the message is not sent on, as in Node-RED (no error, so catch nodes do not see it).
    """)]
public sealed class RangeNode : FlowNode<RangeOptions>, IRunsInline
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var path = Options.Path!;
        if (!path.TryGet(message.Properties, out var value)) return Context.SendAsync(0, message, cancellationToken);

        var n = MessageValue.ToNumber(value);
        if (double.IsNaN(n))
        {
            // As Node-RED: logged, not sent, not an error.
            Context.Log($"Payload is not a number: {path.Text} is {MessageValue.ToText(value)}");
            return ValueTask.CompletedTask;
        }

        double minIn = Options.MinIn!.Value, maxIn = Options.MaxIn!.Value, minOut = Options.MinOut!.Value, maxOut = Options.MaxOut!.Value;
        // As Node-RED: a reversed input range swaps both ranges, and rounding narrows the output
        // range to whole numbers.
        if (minIn > maxIn) (minIn, maxIn, minOut, maxOut) = (maxIn, minIn, maxOut, minOut);
        if (Options.Round) (minOut, maxOut) = (Math.Ceiling(minOut), Math.Floor(maxOut));
        switch (Options.Action)
        {
            case "drop" when n < minIn || n > maxIn:
                return ValueTask.CompletedTask;
            case "clamp":
                if (n < minIn) n = minIn;
                if (n > maxIn) n = maxIn;
                break;
            case "roll":
                var span = maxIn - minIn;
                // A true modulo (the remainder of a negative number stays in range).
                n = ((n - minIn) % span + span) % span + minIn;
                break;
        }
        var result = (n - minIn) / (maxIn - minIn) * (maxOut - minOut) + minOut;
        // JavaScript's Math.round rounds halves up (-2.5 → -2), not to even.
        if (Options.Round) result = Math.Floor(result + 0.5);
        path.Set(message, result);
        return Context.SendAsync(0, message, cancellationToken);
    }
}
