using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Sequence;

public sealed class SortOptions : NodeOptions
{
    [Property("target", Editor = PropertyEditor.TypedInput, TypeProperty = "targetType", Label = "Sort", Help = "The array property to sort (targetType msg), or ignored for a message sequence (seq)")]
    public string Target { get; set; } = "payload";

    [Property("targetType", Editor = PropertyEditor.Hidden, Choices = ["msg", "seq"], Types = ["msg", "seq"])]
    public string TargetType { get; set; } = "msg";

    [Property("msgKey", Editor = PropertyEditor.TypedInput, TypeProperty = "msgKeyType", Label = "Key", Help = "For an array: the element itself (elem)")]
    public string MsgKey { get; set; } = "payload";

    [Property("msgKeyType", Editor = PropertyEditor.Hidden, Choices = ["elem", "jsonata"], Types = ["elem", "jsonata"])]
    public string MsgKeyType { get; set; } = "elem";

    [Property("seqKey", Editor = PropertyEditor.TypedInput, TypeProperty = "seqKeyType", Label = "Key", Help = "For a sequence: the message property to sort by")]
    public string SeqKey { get; set; } = "payload";

    [Property("seqKeyType", Editor = PropertyEditor.Hidden, Choices = ["msg", "jsonata"], Types = ["msg", "jsonata"])]
    public string SeqKeyType { get; set; } = "msg";

    [Property("order", Editor = PropertyEditor.Select, Choices = ["ascending", "descending"])]
    public string Order { get; set; } = "ascending";

    [Property("as_num", Editor = PropertyEditor.Checkbox, Label = "as number", Help = "Compare keys as numbers")]
    public bool AsNumber { get; set; }

    [JsonIgnore] public PropertyPath TargetPath { get; private set; } = PropertyPath.Parse("payload");
    [JsonIgnore] public PropertyPath SeqKeyPath { get; private set; } = PropertyPath.Parse("payload");
    /// <summary>The key expression: evaluated on each element (array mode) or each message (sequence mode).</summary>
    [JsonIgnore] public JsonataExpression? KeyExpression { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        if (TargetType == "msg")
        {
            if (MsgKeyType == "jsonata") KeyExpression = CompileKey("msgKey", MsgKey, errors);
            if (PropertyPath.TryParse(string.IsNullOrWhiteSpace(Target) ? "payload" : Target, out var target, out var error)) TargetPath = target!;
            else errors.Add(new OptionError("target", error!));
        }
        else
        {
            if (SeqKeyType == "jsonata") KeyExpression = CompileKey("seqKey", SeqKey, errors);
            else if (PropertyPath.TryParse(string.IsNullOrWhiteSpace(SeqKey) ? "payload" : SeqKey, out var key, out var error)) SeqKeyPath = key!;
            else errors.Add(new OptionError("seqKey", error!));
        }
        return errors;
    }

    static JsonataExpression? CompileKey(string field, string text, List<OptionError> errors)
    {
        try { return JsonataExpression.Compile(text); }
        catch (FormatException e) { errors.Add(new OptionError(field, e.Message)); return null; }
    }
}

[NodeType("sort", Category = "sequence", Color = "#E2D96E", Icon = "sort",
    Help = """
    Sorts an array property of a message, or a whole sequence of messages.

    ### Inputs
    : payload (array) : when sorting a message property: the array to sort.
    : parts (object) : when sorting a sequence: `id`, `index` and `count` of the sequence.

    ### Outputs
    : payload : the sorted array, or each message of the sorted sequence with `parts.index`
      renumbered in the new order.

    ### Details
    Keys are compared as JavaScript does (strings by character code, numbers by value); with
    *as number* they are converted to numbers first. The sort is stable. A message whose
    property is not an array is dropped; in sequence mode, messages are held until the whole
    sequence (`parts.count`) has arrived, and messages without `parts.id` and `parts.index`
    are dropped. A JSONata key is evaluated on each element (its root is the element) or on
    each message of a sequence.
    """)]
public sealed class SortNode : FlowNode<SortOptions>
{
    readonly Dictionary<string, (List<FlowMessage> Messages, int? Count)> _pending = [];

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var options = Options;
        if (options.TargetType == "msg")
        {
            if (options.TargetPath.Get(message) is not List<object?> items) return;
            var sorted = options.KeyExpression is { } elementKey ? Sort(items, item => elementKey.EvaluateOn(item, Context)) : Sort(items, item => item);
            items.Clear();
            items.AddRange(sorted);
            await Context.SendAsync(0, message, cancellationToken);
            return;
        }

        if (MessageParts.Of(message) is not { } parts || !parts.ContainsKey("id") || !parts.ContainsKey("index")) return;
        var id = MessageValue.ToText(parts["id"]);
        if (!_pending.TryGetValue(id, out var group)) group = ([], null);
        group.Messages.Add(message);
        if (parts.ContainsKey("count")) group.Count = MessageParts.AsIndex(parts["count"]);
        if (group.Count != group.Messages.Count)
        {
            _pending[id] = group;
            return;
        }
        _pending.Remove(id);
        var ordered = options.KeyExpression is { } messageKey
            ? Sort(group.Messages, m => messageKey.Evaluate(m, Context))
            : Sort(group.Messages, m => options.SeqKeyPath.Get(m));
        for (var i = 0; i < ordered.Count; i++)
        {
            MessageParts.Of(ordered[i])!["index"] = (double)i;
            await Context.SendAsync(0, ordered[i], cancellationToken);
        }
    }

    List<T> Sort<T>(List<T> items, Func<T, object?> key)
    {
        var direction = Options.Order == "descending" ? -1 : 1;
        var asNumber = Options.AsNumber;
        object? Key(T item) => asNumber ? MessageValue.ToNumber(key(item)) : key(item);
        // OrderBy is stable, like the array sort of current JavaScript engines.
        return items.OrderBy(Key, Comparer<object?>.Create((x, y) =>
            StrictEquals(x, y) ? 0 : GreaterThan(x, y) ? direction : -direction)).ToList();
    }

    static bool StrictEquals(object? x, object? y) => (x, y) switch
    {
        (null, null) => true,
        (string a, string b) => a == b,
        (bool a, bool b) => a == b,
        _ when MessageValue.AsNumber(x) is { } a && MessageValue.AsNumber(y) is { } b => a == b,
        _ => ReferenceEquals(x, y),
    };

    // JavaScript's x > y: strings compare by UTF-16 code units, anything else as numbers.
    static bool GreaterThan(object? x, object? y)
    {
        var a = Primitive(x);
        var b = Primitive(y);
        if (a is string s && b is string t) return string.CompareOrdinal(s, t) > 0;
        return MessageValue.ToNumber(a) > MessageValue.ToNumber(b);
    }

    static object? Primitive(object? value) => value switch
    {
        List<object?> list => string.Join(",", list.Select(item => item is null ? "" : MessageValue.ToText(Primitive(item)))),
        Dictionary<string, object?> => "[object Object]",
        byte[] bytes => string.Join(",", bytes),
        _ => value,
    };

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        _pending.Clear();
        return Task.CompletedTask;
    }
}
