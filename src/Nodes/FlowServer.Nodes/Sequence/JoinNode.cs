using System.Text;
using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Sequence;

public sealed class JoinOptions : NodeOptions
{
    [Property("mode", Editor = PropertyEditor.Select, Choices = ["auto", "custom", "reduce"], Help = "auto: reassemble a sequence from msg.parts; custom (manual): build as configured; reduce: fold the sequence with a JSONata expression")]
    public string Mode { get; set; } = "auto";

    [Property("build", Editor = PropertyEditor.Select, Choices = ["string", "buffer", "array", "object", "merged"], Label = "Combine each", Help = "What the joined value is (manual mode)")]
    public string Build { get; set; } = "object";

    [Property("property", Editor = PropertyEditor.TypedInput, TypeProperty = "propertyType", Help = "The message property to collect (manual mode)")]
    public string Property { get; set; } = "payload";

    [Property("propertyType", Editor = PropertyEditor.Hidden, Choices = ["msg", "full"], Types = ["msg", "full"], Help = "full collects whole messages")]
    public string PropertyType { get; set; } = "msg";

    [Property("key", Label = "using the value of msg.", Help = "For objects: the message property whose value becomes the key")]
    public string Key { get; set; } = "topic";

    [Property("joiner", Label = "joined using", Help = "Separator for strings and buffers (\\n style escapes, or a JSON byte array for bin)")]
    public string Joiner { get; set; } = "\\n";

    [Property("joinerType", Editor = PropertyEditor.Hidden, Choices = ["str", "bin"])]
    public string JoinerType { get; set; } = "str";

    [Property("accumulate", Editor = PropertyEditor.Checkbox, Label = "and every subsequent message", Help = "Keep the object after sending it and send it again for each further message")]
    public bool Accumulate { get; set; }

    [Property("timeout", Editor = PropertyEditor.Number, Min = 0, Label = "After a timeout following the first message", Help = "Seconds; 0 or empty for none (manual mode)")]
    public double Timeout { get; set; }

    [Property("count", Editor = PropertyEditor.Number, Min = 0, Label = "After a number of message parts", Help = "0 or empty: use msg.parts.count when present, else wait for msg.complete")]
    public int Count { get; set; }

    [Property("useparts", Editor = PropertyEditor.Checkbox, Label = "Use existing msg.parts", Help = "Accepted for compatibility; manual mode always honours msg.parts.count")]
    public bool UseParts { get; set; }

    [Property("reduceExp", Label = "Reduce exp", Help = "JSONata applied to each message of the sequence; $A is the accumulated value, $I the index, $N the count")]
    public string ReduceExp { get; set; } = "";

    [Property("reduceInit", Editor = PropertyEditor.TypedInput, TypeProperty = "reduceInitType", Label = "Initial value", Help = "The first $A")]
    public string ReduceInit { get; set; } = "";

    [Property("reduceInitType", Editor = PropertyEditor.Hidden, Types = ["num", "str", "bool", "json", "bin", "date", "flow", "global", "env", "jsonata"])]
    public string ReduceInitType { get; set; } = "num";

    [Property("reduceFixup", Label = "Fixup exp", Help = "Optional JSONata applied to the result ($A) once the sequence is complete; $N is the count")]
    public string ReduceFixup { get; set; } = "";

    [Property("reduceRight", Editor = PropertyEditor.Checkbox, Label = "Evaluate in reverse order (last to first)")]
    public bool ReduceRight { get; set; }

    [JsonIgnore] public JsonataExpression? Reduce { get; private set; }
    [JsonIgnore] public JsonataExpression? Fixup { get; private set; }
    [JsonIgnore] public TypedValue? InitialValue { get; private set; }

    [JsonIgnore] public PropertyPath Path { get; private set; } = PropertyPath.Parse("payload");
    [JsonIgnore] public PropertyPath KeyPath { get; private set; } = PropertyPath.Parse("topic");
    [JsonIgnore] public object JoinCharacter { get; private set; } = "\n";

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        if (Mode == "reduce")
        {
            if (string.IsNullOrWhiteSpace(ReduceExp)) errors.Add(new OptionError("reduceExp", "is required in reduce mode"));
            else
            {
                try { Reduce = JsonataExpression.Compile(ReduceExp); }
                catch (FormatException e) { errors.Add(new OptionError("reduceExp", e.Message)); }
            }
            if (!string.IsNullOrWhiteSpace(ReduceFixup))
            {
                try { Fixup = JsonataExpression.Compile(ReduceFixup); }
                catch (FormatException e) { errors.Add(new OptionError("reduceFixup", e.Message)); }
            }
            try { InitialValue = TypedValue.Parse(string.IsNullOrEmpty(ReduceInitType) ? "num" : ReduceInitType, ReduceInitType is "" or "num" && string.IsNullOrWhiteSpace(ReduceInit) ? "0" : ReduceInit); }
            catch (FormatException e) { errors.Add(new OptionError("reduceInit", e.Message)); }
        }
        if (PropertyType == "full") Path = PropertyPath.Parse("payload");
        else if (PropertyPath.TryParse(string.IsNullOrWhiteSpace(Property) ? "payload" : Property, out var path, out var error)) Path = path!;
        else errors.Add(new OptionError("property", error!));
        if (Build == "object")
        {
            if (PropertyPath.TryParse(string.IsNullOrWhiteSpace(Key) ? "topic" : Key, out var key, out var keyError)) KeyPath = key!;
            else errors.Add(new OptionError("key", keyError!));
        }
        if (JoinerType == "bin")
        {
            if (MessageParts.ParseBytes(string.IsNullOrWhiteSpace(Joiner) ? "[]" : Joiner) is { } bytes) JoinCharacter = bytes;
            else errors.Add(new OptionError("joiner", $"must be a JSON array of bytes such as [13,10], got '{Joiner}'"));
        }
        else JoinCharacter = MessageParts.Unescape(Joiner ?? "");
        return errors;
    }
}

[NodeType("join", Category = "sequence", Color = "#E2D96E", Icon = "join",
    Help = """
    Joins a sequence of messages into one message.

    ### Inputs
    : parts (object) : in automatic mode, the sequence information written by split (or any
      node that produces `msg.parts`): `id`, `index`, `count`, `type`, `ch`, `key`, `len`.
    : complete : when present, the message is added and the joined message is sent now.
    : reset : when present, the pending parts are dropped and nothing is sent.

    ### Outputs
    : payload : the joined value; the other properties come from the last message received.
    : parts : the outer `msg.parts` when the sequence was nested, otherwise removed.

    ### Details
    **automatic** reverses a split node: strings are joined with the original separator, arrays
    rebuilt (chunks flattened), objects rebuilt from `parts.key`, buffers concatenated. The
    result goes to `parts.property` (set by split when it split another property than
    `payload`), else to `payload`; *property* is not used.

    **manual** (`custom`) builds a *string* or *buffer* (with *joiner*), an *array*, an
    *object* (key from *key*, value from *property*) or a *merged object* (the properties of
    every object merged). *property* may be `full` to collect whole messages. The message is
    sent after *count* parts (when 0, `msg.parts.count` of the incoming messages is used),
    after *timeout* seconds from the first part, or when a message has `msg.complete`. With
    *accumulate*, an object keeps its keys after being sent and is sent again for every
    further message.

    **reduce** folds a sequence (messages with `msg.parts`) once all of it has arrived: *reduce
    exp* (JSONata) is evaluated on each message in `parts.index` order (or reversed) with `$A`
    the accumulated value (starting at *initial value*), `$I` the index and `$N` the count;
    the optional *fixup exp* then sees `$A` and `$N`. As in Node-RED, the last message folded
    (the highest `parts.index`, or the lowest in reverse) is sent with the result as `payload`;
    its other properties, `parts` included, are kept.
    """)]
public sealed class JoinNode : FlowNode<JoinOptions>
{
    const string ManualGroupId = "_";

    readonly Dictionary<string, (List<FlowMessage> Messages, int? Count)> _reducing = [];

    // Reduce mode: hold each sequence until its parts.count messages are in, then fold them.
    async ValueTask ReduceAsync(FlowMessage message, Dictionary<string, object?>? parts, CancellationToken token)
    {
        if (message["reset"] is not null && parts?.GetValueOrDefault("id") is null) { _reducing.Clear(); return; }
        if (parts is null || !parts.ContainsKey("id") || !parts.ContainsKey("index"))
        {
            Context.Warn("Message missing msg.parts property - cannot join in 'reduce' mode");
            return;
        }
        var id = MessageValue.ToText(parts["id"]);
        if (!_reducing.TryGetValue(id, out var group)) group = ([], null);
        group.Messages.Add(message);
        if (parts.ContainsKey("count")) group.Count = MessageParts.AsIndex(parts["count"]);
        if (group.Count != group.Messages.Count)
        {
            _reducing[id] = group;
            return;
        }
        _reducing.Remove(id);

        var options = Options;
        var ordered = group.Messages.Select(m => (Message: m, Index: MessageParts.AsIndex(MessageParts.Of(m)!["index"])))
            .OrderBy(item => item.Index).ToList();
        if (options.ReduceRight) ordered.Reverse();
        var count = (double)ordered.Count;
        var accumulated = options.InitialValue!.Evaluate(message, Context);
        foreach (var (item, index) in ordered)
            accumulated = options.Reduce!.Evaluate(item, Context, new Dictionary<string, object?> { ["A"] = accumulated, ["I"] = (double)(index ?? 0), ["N"] = count });
        if (options.Fixup is { } fixup)
            accumulated = fixup.EvaluateOn(new Dictionary<string, object?>(), Context, new Dictionary<string, object?> { ["A"] = accumulated, ["N"] = count });
        // As Node-RED: the last message folded carries the result, with its other properties.
        var output = ordered[^1].Message;
        output.Payload = accumulated;
        await Context.SendAsync(0, output, token);
    }

    sealed class Group
    {
        public required string Type { get; init; } // string, buffer, array, object; anything else is joined as an array
        public List<object?> Items { get; } = [];
        public Dictionary<string, object?> Map { get; } = [];
        public int Count;
        public int Target;
        public object? JoinCharacter;
        public int ArrayLength;
        public required FlowMessage Message { get; init; }
        public required PropertyPath Path { get; init; }
        public Timer? Timer;
    }

    readonly Dictionary<string, Group> _groups = [];
    // Receive and timeout callbacks both touch the groups; one at a time.
    readonly SemaphoreSlim _gate = new(1, 1);

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try { await ProcessAsync(message, cancellationToken); }
        finally { _gate.Release(); }
    }

    async ValueTask ProcessAsync(FlowMessage message, CancellationToken token)
    {
        var options = Options;
        var parts = MessageParts.Of(message);
        if (options.Mode == "reduce")
        {
            await ReduceAsync(message, parts, token);
            return;
        }
        var auto = options.Mode == "auto";
        if (auto && (parts is null || !parts.ContainsKey("id")))
        {
            Context.Warn("Message missing msg.parts property - cannot join in 'auto' mode");
            return;
        }

        // Auto mode rebuilds the property split took apart (parts.property), else payload.
        var path = auto ? PartsProperty(parts!) : options.Path;
        bool hasValue;
        object? value;
        if (!auto && options.PropertyType == "full") { hasValue = true; value = MessageValue.DeepClone(message.Properties); }
        else hasValue = path.TryGet(message.Properties, out value);

        string groupId, type;
        int target;
        object? joinCharacter = null, key = null;
        int arrayLength = 0;
        int? index = null;
        if (auto)
        {
            groupId = MessageValue.ToText(parts!["id"]);
            type = parts.GetValueOrDefault("type") as string ?? "array";
            target = MessageParts.AsIndex(parts.GetValueOrDefault("count")) ?? 0;
            joinCharacter = parts.GetValueOrDefault("ch");
            key = parts.GetValueOrDefault("key");
            arrayLength = MessageParts.AsIndex(parts.GetValueOrDefault("len")) ?? 0;
            index = MessageParts.AsIndex(parts.GetValueOrDefault("index"));
        }
        else
        {
            groupId = ManualGroupId;
            type = options.Build;
            target = options.Count;
            joinCharacter = options.JoinCharacter;
            if (type == "object") key = options.KeyPath.Get(message);
        }

        var complete = message.Properties.ContainsKey("complete");
        if (message.Properties.ContainsKey("reset"))
        {
            if (_groups.Remove(groupId, out var dropped)) dropped.Timer?.Dispose();
            return;
        }

        if (type == "object" && (key is null || key is string { Length: 0 }))
        {
            if (auto) Context.Warn("Message missing 'msg.parts.key' property - cannot add to object");
            else if (!complete) Context.Warn($"Message missing key property 'msg.{options.Key}' - cannot add to object");
            else if (_groups.TryGetValue(groupId, out var pending))
            {
                pending.Message["complete"] = message["complete"];
                await CompleteAsync(groupId, pending, token);
            }
            return;
        }

        if (!_groups.TryGetValue(groupId, out var group))
        {
            group = new Group
            {
                Type = type == "merged" ? "object" : type,
                Target = target,
                JoinCharacter = joinCharacter,
                ArrayLength = arrayLength,
                Message = message.Clone(),
                Path = path,
            };
            _groups[groupId] = group;
            if (!auto && options.Timeout > 0)
                group.Timer = new Timer(_ => _ = TimeoutAsync(groupId, group), null, TimeSpan.FromSeconds(options.Timeout), Timeout.InfiniteTimeSpan);
        }

        if (group.Type == "buffer" && hasValue && value is not (byte[] or string or List<object?>))
            throw new FlowNodeException($"Cannot join {JavaScriptType(value)} to buffer");

        if (type == "object")
        {
            group.Map[MessageValue.ToText(key)] = value;
            group.Count = group.Map.Count;
        }
        else if (type == "merged")
        {
            if (value is Dictionary<string, object?> map)
            {
                foreach (var (name, item) in map)
                    if (name != "_msgid") group.Map[name] = item;
                group.Count = group.Map.Count;
            }
            else if (!complete) Context.Warn("Cannot merge non-object types");
        }
        else if (index is { } at)
        {
            while (group.Items.Count <= at) group.Items.Add(null);
            group.Items[at] = value;
            group.Count++;
        }
        else if (hasValue)
        {
            group.Items.Add(value);
            group.Count++;
        }

        foreach (var (name, item) in message.Properties) group.Message.Properties[name] = item;

        var goal = group.Target;
        if (parts is not null && goal == 0) goal = MessageParts.AsIndex(parts.GetValueOrDefault("count")) ?? 0;
        if ((goal > 0 && group.Count >= goal) || complete) await CompleteAsync(groupId, group, token);
    }

    static readonly PropertyPath PayloadPath = PropertyPath.Parse("payload");

    static PropertyPath PartsProperty(Dictionary<string, object?> parts) =>
        parts.GetValueOrDefault("property") is string { Length: > 0 } text && PropertyPath.TryParse(text, out var path, out _) ? path! : PayloadPath;

    async Task TimeoutAsync(string groupId, Group group)
    {
        try
        {
            await _gate.WaitAsync(Context.Stopping);
            try
            {
                if (_groups.TryGetValue(groupId, out var current) && ReferenceEquals(current, group))
                    await CompleteAsync(groupId, group, Context.Stopping);
            }
            finally { _gate.Release(); }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { Context.ReportError($"join timeout failed: {e.Message}", null, e); }
    }

    async Task CompleteAsync(string groupId, Group group, CancellationToken token)
    {
        group.Timer?.Dispose();
        group.Timer = null;
        if (!Options.Accumulate || group.Message.Properties.ContainsKey("complete")) _groups.Remove(groupId);

        var output = group.Message.Clone();
        group.Path.Set(output, Build(group));
        if (output["parts"] is Dictionary<string, object?> parts && parts.TryGetValue("parts", out var outer)) output["parts"] = outer;
        else output.Properties.Remove("parts");
        output.Properties.Remove("complete");
        group.Message.Properties.Remove("complete");
        await Context.SendAsync(0, output, token);
    }

    static object? Build(Group group)
    {
        switch (group.Type)
        {
            case "object":
                return MessageValue.DeepClone(group.Map);
            case "string":
                var separator = group.JoinCharacter switch
                {
                    null => ",", // JavaScript's Array.join default
                    string s => s,
                    _ => Encoding.UTF8.GetString(ToBytes(group.JoinCharacter)),
                };
                return string.Join(separator, group.Items.Select(item => item is null ? "" : MessageValue.ToText(item)));
            case "buffer":
                var joiner = group.JoinCharacter is null ? null : ToBytes(group.JoinCharacter);
                var buffer = new List<byte>();
                for (var i = 0; i < group.Items.Count; i++)
                {
                    if (i > 0 && joiner is not null) buffer.AddRange(joiner);
                    buffer.AddRange(ToBytes(group.Items[i]));
                }
                return buffer.ToArray();
            default:
                var items = (List<object?>)MessageValue.DeepClone(group.Items)!;
                if (group.Type != "array" || group.ArrayLength <= 1) return items;
                // Chunks of a split array are flattened back into one array.
                var flat = new List<object?>();
                foreach (var item in items)
                {
                    if (item is List<object?> chunk) flat.AddRange(chunk);
                    else flat.Add(item);
                }
                return flat;
        }
    }

    static byte[] ToBytes(object? value) => value switch
    {
        byte[] bytes => bytes,
        string text => Encoding.UTF8.GetBytes(text),
        List<object?> list => list.Select(b => (byte)MessageValue.ToNumber(b)).ToArray(),
        null => [],
        _ => Encoding.UTF8.GetBytes(MessageValue.ToText(value)),
    };

    static string JavaScriptType(object? value) => value switch
    {
        null => "object",
        bool => "boolean",
        _ when MessageValue.IsNumber(value) => "number",
        _ => "object",
    };

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var group in _groups.Values) group.Timer?.Dispose();
        _groups.Clear();
        return Task.CompletedTask;
    }
}
