using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Sequence;

/// <summary>One entry of the batch node's <c>topics</c> list (concatenate mode).</summary>
public sealed class BatchTopic
{
    [JsonPropertyName("topic")] public string Topic { get; set; } = "";
}

public sealed class BatchOptions : NodeOptions
{
    [Property("mode", Editor = PropertyEditor.Select, Choices = ["count", "interval", "concat"], Help = "count: groups of N messages; interval: what arrived in each interval; concat: sequences of the listed topics joined")]
    public string Mode { get; set; } = "count";

    [Property("count", Editor = PropertyEditor.Number, Min = 1, Label = "Number of messages")]
    public int Count { get; set; } = 10;

    [Property("overlap", Editor = PropertyEditor.Number, Min = 0, Help = "Messages of a group repeated at the start of the next (count mode)")]
    public int Overlap { get; set; }

    [Property("interval", Editor = PropertyEditor.Number, Min = 0, Help = "Seconds (interval mode)")]
    public double Interval { get; set; } = 10;

    [Property("allowEmptySequence", Editor = PropertyEditor.Checkbox, Label = "send empty message when no message arrives", Help = "Interval mode: send a message with a null payload when nothing arrived")]
    public bool AllowEmptySequence { get; set; }

    [Property("topics", Editor = PropertyEditor.List, Help = "Concatenate mode: the topics whose sequences are joined, in order")]
    public List<BatchTopic> Topics { get; set; } = [];

    [Property("honourParts", Editor = PropertyEditor.Checkbox, Help = "Accepted for compatibility; not used")]
    public bool HonourParts { get; set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        if (Mode == "count" && Overlap >= Count) errors.Add(new OptionError("overlap", $"must be less than count ({Count}), got {Overlap}"));
        if (Mode == "interval" && Interval <= 0) errors.Add(new OptionError("interval", "must be greater than 0 seconds in interval mode"));
        if (Mode == "concat" && Topics.Count == 0) errors.Add(new OptionError("topics", "list at least one topic for concatenate mode"));
        return errors;
    }
}

[NodeType("batch", Category = "sequence", Color = "#E2D96E", Icon = "batch",
    Help = """
    Creates sequences of messages, by count, by time interval or by concatenating sequences.

    ### Inputs
    : reset : when present, the messages held so far are dropped (and the interval restarts).

    ### Outputs
    : parts (object) : `id` (the `_msgid` of the first message of the group), `index` and
      `count`; an existing `msg.parts` is overwritten with these.

    ### Details
    - **count**: every *count* messages are sent as one sequence. With *overlap*, the last
      *overlap* messages of a group start the next group (sent as copies).
    - **interval**: every *interval* seconds the messages that arrived are sent as a
      sequence; with *allowEmptySequence*, a message with a null payload is sent when none
      arrived.
    - **concat**: sequences (with `msg.parts`) of the topics listed in *topics* are held
      until each topic has a complete one, then sent together in the listed topic order.
    """)]
public sealed class BatchNode : FlowNode<BatchOptions>
{
    List<FlowMessage> _pending = [];
    // Concat mode: per topic, the sequences in arrival order (id, messages, expected count).
    readonly Dictionary<string, List<(string Id, List<FlowMessage> Messages, int Count)>> _sequences = [];
    readonly SemaphoreSlim _gate = new(1, 1); // the interval timer and the inbox share the pending list
    Timer? _timer;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (Options.Mode == "interval") RestartTimer();
        return Task.CompletedTask;
    }

    void RestartTimer()
    {
        _timer?.Dispose();
        var period = TimeSpan.FromSeconds(Options.Interval);
        _timer = new Timer(_ => _ = TickAsync(), null, period, period);
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var reset = message.Properties.ContainsKey("reset");
            switch (Options.Mode)
            {
                case "count":
                    if (reset) { _pending.Clear(); return; }
                    _pending.Add(message);
                    if (_pending.Count < Options.Count) return;
                    var overlap = Options.Overlap;
                    var group = _pending;
                    _pending = overlap == 0 ? [] : group.GetRange(group.Count - overlap, overlap);
                    // Overlapping messages go out twice, so each send needs its own copy.
                    await SendSequenceAsync(overlap > 0 ? group.Select(m => m.Clone()).ToList() : group, cancellationToken);
                    break;
                case "interval":
                    if (reset) { _pending.Clear(); RestartTimer(); return; }
                    _pending.Add(message);
                    break;
                case "concat":
                    if (reset) { _sequences.Clear(); return; }
                    await ConcatAsync(message, cancellationToken);
                    break;
            }
        }
        finally { _gate.Release(); }
    }

    async Task TickAsync()
    {
        try
        {
            await _gate.WaitAsync(Context.Stopping);
            try
            {
                if (_pending.Count > 0)
                {
                    var group = _pending;
                    _pending = [];
                    await SendSequenceAsync(group, Context.Stopping);
                }
                else if (Options.AllowEmptySequence)
                {
                    var empty = new FlowMessage { Payload = null };
                    empty["parts"] = new Dictionary<string, object?> { ["id"] = MessageParts.NewId(), ["index"] = 0.0, ["count"] = 1.0 };
                    await Context.SendAsync(0, empty, Context.Stopping);
                }
            }
            finally { _gate.Release(); }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { Context.ReportError($"batch interval failed: {e.Message}", null, e); }
    }

    async Task ConcatAsync(FlowMessage message, CancellationToken token)
    {
        var topic = message.Topic;
        if (topic is null || !Options.Topics.Any(t => t.Topic == topic)) return;
        if (MessageParts.Of(message) is not { } parts || !parts.ContainsKey("id") || !parts.ContainsKey("index") || MessageParts.AsIndex(parts.GetValueOrDefault("count")) is not { } count)
            throw new FlowNodeException("Message has no msg.parts with id, index and count; it cannot be concatenated");

        var id = MessageValue.ToText(parts["id"]);
        if (!_sequences.TryGetValue(topic, out var list)) _sequences[topic] = list = [];
        var index = list.FindIndex(s => s.Id == id);
        if (index < 0) list.Add((id, [message], count));
        else list[index].Messages.Add(message);

        var topics = Options.Topics.Select(t => t.Topic).ToList();
        if (!topics.All(t => _sequences.TryGetValue(t, out var s) && s.Count > 0 && s[0].Messages.Count == s[0].Count)) return;
        var combined = new List<FlowMessage>();
        foreach (var t in topics)
        {
            combined.AddRange(_sequences[t][0].Messages.OrderBy(m => MessageParts.AsIndex(MessageParts.Of(m)!["index"]) ?? 0));
            _sequences[t].RemoveAt(0);
        }
        await SendSequenceAsync(combined.Select(m => m.Clone()).ToList(), token);
    }

    async Task SendSequenceAsync(List<FlowMessage> group, CancellationToken token)
    {
        var id = group[0].MessageId;
        for (var i = 0; i < group.Count; i++)
        {
            var message = group[i];
            if (MessageParts.Of(message) is not { } parts) message["parts"] = parts = [];
            parts["id"] = id;
            parts["index"] = (double)i;
            parts["count"] = (double)group.Count;
            await Context.SendAsync(0, message, token);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is not null) await _timer.DisposeAsync();
        _pending.Clear();
        _sequences.Clear();
    }
}
