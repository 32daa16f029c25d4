using System.Diagnostics;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Function;

public sealed class DelayOptions : NodeOptions
{
    [Property("pauseType", Editor = PropertyEditor.Select, Choices = ["delay", "delayv", "random", "rate", "queue", "timed"],
        Help = "delay: fixed delay; delayv: msg.delay; random: between two bounds; rate: rate limit all messages; queue: rate limit, one topic per interval in turn; timed: the newest message of every topic each interval")]
    public string PauseType { get; set; } = "delay";

    [Property("timeout", Editor = PropertyEditor.Number, Min = 0, Help = "Fixed delay (and the default for delayv)")]
    public double Timeout { get; set; } = 5;

    [Property("timeoutUnits", Editor = PropertyEditor.Select, Choices = ["milliseconds", "seconds", "minutes", "hours", "days"])]
    public string TimeoutUnits { get; set; } = "seconds";

    [Property("rate", Editor = PropertyEditor.Number, Help = "Messages per nbRateUnits × rateUnits")]
    public double Rate { get; set; } = 1;

    [Property("nbRateUnits", Editor = PropertyEditor.Number, Help = "How many rate units the rate is per")]
    public double NbRateUnits { get; set; } = 1;

    [Property("rateUnits", Editor = PropertyEditor.Select, Choices = ["second", "minute", "hour", "day"])]
    public string RateUnits { get; set; } = "second";

    [Property("randomFirst", Editor = PropertyEditor.Number, Min = 0)]
    public double RandomFirst { get; set; } = 1;

    [Property("randomLast", Editor = PropertyEditor.Number, Min = 0)]
    public double RandomLast { get; set; } = 5;

    [Property("randomUnits", Editor = PropertyEditor.Select, Choices = ["milliseconds", "seconds", "minutes", "hours", "days"])]
    public string RandomUnits { get; set; } = "seconds";

    [Property("drop", Editor = PropertyEditor.Checkbox, Label = "Drop intermediate messages", Help = "Rate mode: drop (or, with 2 outputs, divert) messages that arrive too soon instead of queueing them")]
    public bool Drop { get; set; }

    [Property("allowrate", Editor = PropertyEditor.Checkbox, Label = "Allow msg.rate (in ms) to override the rate")]
    public bool AllowRate { get; set; }

    [Property("outputs", Editor = PropertyEditor.Select, Choices = ["1", "2"], Help = "2: dropped messages leave on the second output (rate mode with drop; queue and timed: a message replaced by a newer one of its topic)")]
    public int Outputs { get; set; } = 1;

    public TimeSpan Delay { get; private set; }
    public TimeSpan Interval { get; private set; }
    public TimeSpan RandomLow { get; private set; }
    public TimeSpan RandomHigh { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        Delay = TimeSpan.FromMilliseconds(Timeout * UnitMilliseconds(TimeoutUnits));
        RandomLow = TimeSpan.FromMilliseconds(RandomFirst * UnitMilliseconds(RandomUnits));
        RandomHigh = TimeSpan.FromMilliseconds(RandomLast * UnitMilliseconds(RandomUnits));
        if (PauseType is "rate" or "queue" or "timed")
        {
            if (!(Rate > 0)) yield return new OptionError("rate", $"must be more than 0, got {MessageValue.FormatNumber(Rate)}");
            else Interval = TimeSpan.FromMilliseconds(UnitMilliseconds(RateUnits + "s") / Rate * (NbRateUnits > 0 ? NbRateUnits : 1));
        }
        if (PauseType == "random" && RandomHigh < RandomLow)
            yield return new OptionError("randomLast", "must not be less than randomFirst");
    }

    internal static double UnitMilliseconds(string units) => units switch
    {
        "milliseconds" => 1,
        "minutes" => 60_000,
        "hours" => 3_600_000,
        "days" => 86_400_000,
        _ => 1000,
    };
}

[NodeType("delay", Category = "function", Inputs = 1, Outputs = 1, OutputsProperty = "outputs", Color = "#e6e0f8", Icon = "timer",
    Help = """
    Delays each message passing through the node or limits the rate at which they can pass.

    ### Inputs
    : delay (number) : with *pauseType* `delayv`, the delay in milliseconds for this message.
    : rate (number) : in rate mode with *allowrate*, the new interval between messages in milliseconds.
    : reset : held messages are cleared without being sent (the reset message is not passed on).
    : flush : held messages are sent at once: all of them, or as many as a numeric value says.
    : toFront (boolean) : in rate mode, puts the message at the front of the queue.

    ### Details
    *Delay* modes hold each message for a fixed time (`delay`), for `msg.delay` ms (`delayv`,
    falling back to the fixed delay) or for a random time between *randomFirst* and
    *randomLast* (`random`). Messages leave in the order of their due times; equal delays keep
    arrival order. Reset and flush messages are control messages and are not passed on.

    *Rate* limits all messages to *rate* per *nbRateUnits* × *rateUnits*: the first passes at
    once, the rest queue (or, with *drop*, are dropped, or sent on the second output when the
    node has two). In rate mode a flush message that carries other properties is queued too.

    `queue` and `timed` group by `msg.topic` (a message without one gets the topic `_none_`)
    and keep only the newest message per topic: `queue` sends one topic per interval in turn,
    `timed` sends the newest message of every topic each interval.

    Held messages are dropped when the node stops.
    """)]
public sealed class DelayNode : FlowNode<DelayOptions>
{
    readonly object _sync = new();
    // Sends of the pump and of flushes go one at a time, so order is kept.
    readonly SemaphoreSlim _sendGate = new(1, 1);
    readonly SemaphoreSlim _wake = new(0);

    // delay, delayv, random: held messages by due time, then arrival.
    readonly PriorityQueue<FlowMessage, (long Due, long Sequence)> _held = new();
    long _sequence;

    // rate, queue, timed: the waiting messages, in sending order.
    readonly LinkedList<FlowMessage> _queue = new();
    bool _rateTimerRunning;
    long _rateGeneration;
    TimeSpan _interval;
    long _lastSent = -1;
    int _reportedDepth;

    bool IsDelayMode => Options.PauseType is "delay" or "delayv" or "random";

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _interval = Options.Interval;
        if (IsDelayMode) _ = RunDelayPumpAsync(Context.Stopping);
        else if (Options.PauseType is "queue" or "timed") _ = RunTopicTimerAsync(Context.Stopping);
        return Task.CompletedTask;
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (IsDelayMode) await ReceiveDelayedAsync(message, cancellationToken);
        else if (Options.PauseType == "rate") await ReceiveRateAsync(message, cancellationToken);
        else await ReceiveByTopicAsync(message, cancellationToken);
    }

    // ---- delay, delayv, random ----

    async ValueTask ReceiveDelayedAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message.Properties.TryGetValue("flush", out var flush))
        {
            await FlushHeldAsync(FlushCount(flush), cancellationToken);
            return;
        }
        if (message.Properties.ContainsKey("reset"))
        {
            lock (_sync) _held.Clear();
            Context.SetStatus(new NodeStatus(null, null, "reset"));
            return;
        }
        var wait = Options.PauseType switch
        {
            "delayv" => DelayOf(message),
            "random" => Options.RandomLow + (Options.RandomHigh - Options.RandomLow) * Random.Shared.NextDouble(),
            _ => Options.Delay,
        };
        int count;
        lock (_sync)
        {
            _held.Enqueue(message, (Stopwatch.GetTimestamp() + (long)(wait.TotalSeconds * Stopwatch.Frequency), _sequence++));
            count = _held.Count;
        }
        if (count == 1) Context.SetStatus(new NodeStatus("blue", "dot", " "));
        Wake();
    }

    TimeSpan DelayOf(FlowMessage message)
    {
        if (message["delay"] is { } delay and not bool)
        {
            var ms = MessageValue.ToNumber(delay);
            if (!double.IsNaN(ms)) return TimeSpan.FromMilliseconds(Math.Max(0, ms));
        }
        return Options.Delay;
    }

    async Task RunDelayPumpAsync(CancellationToken token)
    {
        try
        {
            while (!token.IsCancellationRequested)
            {
                TimeSpan wait;
                await _sendGate.WaitAsync(token);
                try
                {
                    FlowMessage? due = null;
                    bool empty;
                    lock (_sync)
                    {
                        wait = Timeout.InfiniteTimeSpan;
                        if (_held.TryPeek(out var next, out var priority))
                        {
                            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), priority.Due);
                            if (left <= TimeSpan.Zero) due = _held.Dequeue();
                            else wait = left;
                        }
                        empty = _held.Count == 0;
                    }
                    if (due is not null)
                    {
                        if (empty) Context.SetStatus(NodeStatus.Clear);
                        await Context.SendAsync(0, due, token);
                        continue;
                    }
                }
                finally { _sendGate.Release(); }
                await _wake.WaitAsync(wait, token);
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { Context.ReportError($"delay stopped sending: {e.Message}", null, e); }
    }

    async ValueTask FlushHeldAsync(int? count, CancellationToken cancellationToken)
    {
        await _sendGate.WaitAsync(cancellationToken);
        try
        {
            var flushed = new List<FlowMessage>();
            lock (_sync)
                while ((count is null || flushed.Count < count) && _held.TryDequeue(out var message, out _)) flushed.Add(message);
            Context.SetStatus(new NodeStatus(null, null, "flushed"));
            foreach (var message in flushed) await Context.SendAsync(0, message, cancellationToken);
        }
        finally { _sendGate.Release(); }
        Wake();
    }

    // A numeric flush releases that many messages; any other value releases all.
    static int? FlushCount(object? flush) => MessageValue.AsNumber(flush) is { } n ? (int)Math.Max(0, n) : null;

    void Wake()
    {
        if (_wake.CurrentCount == 0) _wake.Release();
    }

    // ---- rate ----

    async ValueTask ReceiveRateAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message.Properties.ContainsKey("reset"))
        {
            lock (_sync)
            {
                _queue.Clear();
                // The running interval ends: the next message passes at once (with drop too, as
                // Node-RED forgets when it last sent, unless the reset also flushes).
                _rateTimerRunning = false;
                _rateGeneration++;
                if (!message.Properties.ContainsKey("flush")) _lastSent = -1;
            }
            Context.SetStatus(new NodeStatus(null, null, "reset"));
            return;
        }
        if (Options.AllowRate && message["rate"] is { } rate and not bool && MessageValue.ToNumber(rate) is var ms && ms > 0)
            _interval = TimeSpan.FromMilliseconds(ms);

        if (Options.Drop)
        {
            var now = Stopwatch.GetTimestamp();
            if (_lastSent < 0 || Stopwatch.GetElapsedTime(_lastSent, now) > _interval)
            {
                _lastSent = now;
                await Context.SendAsync(0, message, cancellationToken);
            }
            else if (Options.Outputs == 2) await Context.SendAsync(1, message, cancellationToken);
            return;
        }

        var flushing = message.Properties.Remove("flush", out var flush);
        // As Node-RED: a message that is nothing but a flush command is not passed on.
        var carriesData = message.Properties.Keys.Any(k => k is not "_msgid");
        await _sendGate.WaitAsync(cancellationToken);
        try
        {
            if (carriesData)
            {
                bool sendNow;
                long generation;
                lock (_sync)
                {
                    generation = _rateGeneration;
                    sendNow = !_rateTimerRunning;
                    if (sendNow) _rateTimerRunning = true;
                    else if (message["toFront"] is true) _queue.AddFirst(message);
                    else _queue.AddLast(message);
                }
                if (sendNow)
                {
                    await Context.SendAsync(0, message, cancellationToken);
                    _ = RunRateTimerAsync(generation, Context.Stopping);
                }
            }
            if (flushing)
            {
                var count = FlushCount(flush);
                var flushed = new List<FlowMessage>();
                lock (_sync)
                    while ((count is null || flushed.Count < count) && _queue.First is { } first)
                    {
                        _queue.RemoveFirst();
                        flushed.Add(first.Value);
                    }
                foreach (var queued in flushed) await Context.SendAsync(0, queued, cancellationToken);
            }
        }
        finally { _sendGate.Release(); }
        ReportDepth();
    }

    async Task RunRateTimerAsync(long generation, CancellationToken token)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_interval, token);
                await _sendGate.WaitAsync(token);
                try
                {
                    FlowMessage? next = null;
                    lock (_sync)
                    {
                        if (generation != _rateGeneration) return;
                        if (_queue.First is { } first)
                        {
                            _queue.RemoveFirst();
                            next = first.Value;
                        }
                        // An interval without a message ends the limiting: the next message passes at once.
                        else _rateTimerRunning = false;
                    }
                    if (next is null) return;
                    await Context.SendAsync(0, next, token);
                }
                finally { _sendGate.Release(); }
                ReportDepth();
            }
        }
        catch (OperationCanceledException) { }
    }

    // Status changes reach status nodes: report only when the queue length changed.
    void ReportDepth()
    {
        int depth;
        lock (_sync) depth = _queue.Count;
        if (Interlocked.Exchange(ref _reportedDepth, depth) == depth) return;
        Context.SetStatus(depth > 0 ? new NodeStatus(null, null, depth.ToString(System.Globalization.CultureInfo.InvariantCulture)) : NodeStatus.Clear);
    }

    // ---- queue, timed ----

    async ValueTask ReceiveByTopicAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message.Properties.ContainsKey("reset"))
        {
            lock (_sync) _queue.Clear();
            Context.SetStatus(new NodeStatus(null, null, "reset"));
            return;
        }
        var flushing = message.Properties.Remove("flush", out var flush);
        if (!flushing || message.Properties.Keys.Any(k => k is not "_msgid"))
        {
            if (!message.Properties.ContainsKey("topic")) message["topic"] = "_none_";
            FlowMessage? replaced = null;
            lock (_sync)
            {
                // The newest message of a topic takes the place of the one waiting.
                var node = _queue.First;
                while (node is not null && !MessageValue.DeepEquals(node.Value["topic"], message["topic"])) node = node.Next;
                if (node is not null) (replaced, node.Value) = (node.Value, message);
                else _queue.AddLast(message);
            }
            // As Node-RED: with two outputs, the message replaced leaves on the second.
            if (replaced is not null && Options.Outputs == 2) await Context.SendAsync(1, replaced, cancellationToken);
        }
        if (flushing)
        {
            await _sendGate.WaitAsync(cancellationToken);
            try { await SendQueuedAsync(FlushCount(flush), cancellationToken); }
            finally { _sendGate.Release(); }
        }
        ReportDepth();
    }

    async Task RunTopicTimerAsync(CancellationToken token)
    {
        try
        {
            using var ticks = new PeriodicTimer(Options.Interval);
            while (await ticks.WaitForNextTickAsync(token))
            {
                await _sendGate.WaitAsync(token);
                try { await SendQueuedAsync(Options.PauseType == "queue" ? 1 : null, token); }
                finally { _sendGate.Release(); }
                ReportDepth();
            }
        }
        catch (OperationCanceledException) { }
    }

    async Task SendQueuedAsync(int? count, CancellationToken token)
    {
        var batch = new List<FlowMessage>();
        lock (_sync)
            while ((count is null || batch.Count < count) && _queue.First is { } first)
            {
                _queue.RemoveFirst();
                batch.Add(first.Value);
            }
        foreach (var message in batch) await Context.SendAsync(0, message, token);
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        // The pumps end with Context.Stopping; what is still held is dropped, as in Node-RED.
        lock (_sync)
        {
            _held.Clear();
            _queue.Clear();
        }
        Context.SetStatus(NodeStatus.Clear);
        return Task.CompletedTask;
    }
}
