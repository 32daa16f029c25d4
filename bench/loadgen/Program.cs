// Load generator and measurer for the engine benchmark (bench/run.sh). Publishes JSON readings
// {"run","seq","ts","value"} to an input topic and checks what the engine under test publishes
// to an output topic: every input field back, plus the scenario's fields. Prints one
// machine-readable line: RESULT key=value ...
//
//   loadgen --broker 127.0.0.1:1883 --count 100000 [--rate 1000] [--qos 0|1] [--fanout 10]
//           [--check function|switch|fanout|none] [--in bench/in] [--out bench/out] [--tags "k=v ..."]
//   loadgen --probe --broker ... [--since-unix-ms T]  (connect, print "PROBE ready", then publish
//           every 20 ms until one output comes back; prints when, and ms since T if given)
using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

var options = Options.Parse(args);
if (options.Probe) return await ProbeAsync(options);
return await RunAsync(options);

static async Task<int> RunAsync(Options o)
{
    var runId = Random.Shared.Next(1, int.MaxValue);
    var expected = o.Count * o.Fanout;
    var seen = new byte[expected];
    long received = 0, unique = 0, duplicates = 0, bad = 0, foreign = 0;
    var latencies = new double[expected];
    var sentAt = new double[expected]; // ms on the generator's clock, for LOADGEN_LATENCY_FILE
    var clock = Stopwatch.StartNew();
    long lastReceiveTicks = 0;
    var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    // Own blocking client (BlockingMqttClient) unless LOADGEN_CLIENT says otherwise: at a fixed
    // rate it stamps each message as the kernel hands it over, at maximum rate it takes less of the
    // shared cores than MQTTnet. LOADGEN_CLIENT=lean puts the maximum-rate profiles back on MQTTnet
    // with FlowServer's MQTT connection (the generator before 2026-12-06 night), =mqttnet all of
    // them on stock MQTTnet. A fixed rate at QoS 1 (no profile uses it) always goes through MQTTnet.
    var clientKind = Environment.GetEnvironmentVariable("LOADGEN_CLIENT") ?? "blocking";
    var blocking = clientKind switch
    {
        "mqttnet" => false,
        "lean" => o.Rate > 0 && o.Qos == 0,
        _ => o.Rate == 0 || o.Qos == 0,
    };
    var cpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
    void OnOutput(ReadOnlySequence<byte> payload, double now)
    {
        Interlocked.Exchange(ref lastReceiveTicks, clock.ElapsedTicks);
        Interlocked.Increment(ref received);
        if (!Reading.TryParse(payload, out var reading) || reading.Run != runId) { Interlocked.Increment(ref foreign); return; }
        var branch = o.Fanout > 1 ? reading.Branch ?? -1 : 0;
        if (reading.Seq < 0 || reading.Seq >= o.Count || branch < 0 || branch >= o.Fanout || !Reading.Check(o.Check, reading)) { Interlocked.Increment(ref bad); return; }
        var slot = reading.Seq * o.Fanout + branch;
        if (Interlocked.Exchange(ref seen[slot], 1) == 1) { Interlocked.Increment(ref duplicates); return; }
        latencies[slot] = now - reading.Ts / 1000.0;
        sentAt[slot] = reading.Ts / 1000.0;
        if (Interlocked.Increment(ref unique) == expected) done.TrySetResult();
    }

    IMqttClient? subscriber = null, publisher = null;
    BlockingMqttClient? blockingSubscriber = null, blockingPublisher = null;
    if (blocking)
    {
        blockingSubscriber = BlockingMqttClient.Connect(o.Host, o.Port, $"loadgen-sub-{Guid.NewGuid():N}"[..23]);
        blockingSubscriber.Subscribe(o.OutTopic, o.Qos);
        if (o.Rate > 0) blockingSubscriber.Subscribe(WarmTopic(runId));
        blockingSubscriber.StartReceiving(() => clock.ElapsedTicks,
            (payload, ticks) => OnOutput(new ReadOnlySequence<byte>(payload), ticks * 1000.0 / Stopwatch.Frequency));
        blockingPublisher = BlockingMqttClient.Connect(o.Host, o.Port, $"loadgen-pub-{Guid.NewGuid():N}"[..23]);
        if (o.Qos > 0) blockingPublisher.StartReceiving(() => 0, (_, _) => { }); // its PUBACKs
    }
    else
    {
        subscriber = await ConnectAsync(o, "loadgen-sub");
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            OnOutput(e.ApplicationMessage.Payload, clock.Elapsed.TotalMilliseconds);
            return Task.CompletedTask;
        };
        await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(o.OutTopic, (MqttQualityOfServiceLevel)o.Qos).Build());
        publisher = await ConnectAsync(o, "loadgen-pub");
    }
    var reading = new byte[128]; // one input at a time, at a fixed rate or through MQTTnet
    const int warmReadings = 50;
    if (blocking && o.Rate > 0 && expected > warmReadings) // (fewer, and the warm-up alone could complete the run)
    {
        // Tiering is off, so the generator's own first sends and receives wait for the JIT: that
        // held back the first ~40 readings of a fixed-rate run, on every engine and on the broker
        // alone, 0.4 % of the 10,000 of the latency profile. Send a few readings round through
        // the broker on a topic of the generator's own first (the engine never sees them; they
        // take the same code path back), then forget them.
        for (var seq = 0; seq < warmReadings; seq++)
        {
            await Task.Delay(1);
            blockingPublisher!.Publish(WarmTopic(runId), reading.AsSpan(0, WriteReading(reading, runId, seq, (long)(clock.Elapsed.TotalMilliseconds * 1000))));
        }
        var warmDeadline = clock.Elapsed + TimeSpan.FromSeconds(2);
        while (Interlocked.Read(ref received) < warmReadings && clock.Elapsed < warmDeadline) await Task.Delay(5);
        Array.Clear(seen);
        received = unique = duplicates = bad = foreign = 0;
    }
    var start = clock.Elapsed;
    var sent = 0;
    var publishErrors = 0;
    using var window = new SemaphoreSlim(o.InFlight);
    var pending = new List<Task>();
    if (blocking && o.Rate == 0)
    {
        blockingPublisher!.PublishAll(o.InTopic, o.Qos, o.Count, o.InFlight,
            (seq, into) => WriteReading(into, runId, seq, (long)(clock.Elapsed.TotalMilliseconds * 1000)));
        sent = o.Count;
    }
    for (var seq = sent; seq < o.Count; seq++)
    {
        if (o.Rate > 0)
        {
            // Absolute schedule without spinning (a spinning publisher took one of the two shared
            // cores at 1,000 msg/s and put its scheduling delays into every engine's p99, the
            // broker's alone included): sleep at least 1 ms, then send everything that has come
            // due. Each message is stamped when it is sent, so a late wake-up does not count as latency.
            var due = start + TimeSpan.FromSeconds(seq / (double)o.Rate);
            var wait = due - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait);
        }
        var length = WriteReading(reading, runId, seq, (long)(clock.Elapsed.TotalMilliseconds * 1000));
        if (blocking)
        {
            blockingPublisher!.Publish(o.InTopic, reading.AsSpan(0, length));
            sent++;
            continue;
        }
        // MQTTnet sends asynchronously: the message gets a payload of its own.
        var message = new MqttApplicationMessageBuilder().WithTopic(o.InTopic).WithPayload(reading[..length]).WithQualityOfServiceLevel((MqttQualityOfServiceLevel)o.Qos).Build();
        if (o.Qos == 0)
        {
            await publisher!.PublishAsync(message);
        }
        else
        {
            await window.WaitAsync();
            pending.Add(PublishOneAsync(publisher!, message, window, () => Interlocked.Increment(ref publishErrors)));
        }
        sent++;
    }
    await Task.WhenAll(pending);
    var publishSeconds = (clock.Elapsed - start).TotalSeconds;

    // Wait for everything, or until nothing arrived for the quiet time.
    while (!done.Task.IsCompleted)
    {
        await Task.WhenAny(done.Task, Task.Delay(100));
        var idle = TimeSpan.FromTicks((long)((clock.ElapsedTicks - Interlocked.Read(ref lastReceiveTicks)) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
        if (idle > TimeSpan.FromSeconds(o.QuietSeconds) && clock.Elapsed - start > TimeSpan.FromSeconds(o.QuietSeconds)) break;
    }
    var end = unique == expected ? TimeSpan.FromTicks((long)(Interlocked.Read(ref lastReceiveTicks) * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency))) : clock.Elapsed;
    var duration = (end - start).TotalSeconds;
    var got = new List<double>((int)unique);
    for (var i = 0; i < expected; i++) if (seen[i] == 1) got.Add(latencies[i]);
    // LOADGEN_LATENCY_FILE: every output's slot, send time and latency (ms), in send order, to see
    // when the slow ones happened (a p99 says how slow, not whether the slow ones come together).
    if (Environment.GetEnvironmentVariable("LOADGEN_LATENCY_FILE") is { Length: > 0 } latencyFile)
        File.WriteAllLines(latencyFile, Enumerable.Range(0, expected).Where(i => seen[i] == 1).Select(i => string.Create(
            System.Globalization.CultureInfo.InvariantCulture, $"{i} {sentAt[i]:F3} {latencies[i]:F3}")));
    got.Sort();
    double P(double p) => got.Count == 0 ? double.NaN : got[Math.Min(got.Count - 1, (int)Math.Ceiling(p * got.Count) - 1)];
    var fields = new (string, object)[]
    {
        ("qos", o.Qos), ("rate", o.Rate), ("count", o.Count), ("fanout", o.Fanout), ("sent", sent), ("expected", expected),
        ("received", received), ("unique", unique), ("lost", expected - unique), ("dup", duplicates), ("bad", bad), ("foreign", foreign),
        ("pub_errors", publishErrors), ("duration_s", Math.Round(duration, 3)), ("msgs_per_s", Math.Round(unique / duration)),
        ("in_msgs_per_s", Math.Round(unique / (double)o.Fanout / duration)), ("pub_per_s", Math.Round(sent / publishSeconds)),
        ("p50_ms", Math.Round(P(0.50), 3)), ("p99_ms", Math.Round(P(0.99), 3)), ("max_ms", Math.Round(P(1.0), 3)),
        // The generator's own CPU from connect to the last output (it shares the cores with broker and engine).
        ("loadgen_cpu_us_per_out", Math.Round((Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart).TotalMicroseconds / Math.Max(1, unique), 1)),
        ("client", clientKind),
    };
    Console.WriteLine("RESULT " + (o.Tags.Length > 0 ? o.Tags + " " : "") + string.Join(" ", fields.Select(f => $"{f.Item1}={Convert.ToString(f.Item2, System.Globalization.CultureInfo.InvariantCulture)}")));
    if (blocking)
    {
        blockingPublisher!.Dispose();
        blockingSubscriber!.Dispose();
        return 0;
    }
    await publisher!.DisconnectAsync();
    await subscriber!.DisconnectAsync();
    return 0;
}

static string WarmTopic(int runId) => $"loadgen/warm/{runId}";

// One input reading, {"run","seq","ts","value"}, as UTF-8 into the span; returns its length.
static int WriteReading(Span<byte> into, int runId, int seq, long ts)
{
    var value = (seq * 7919 % 10000) / 100.0;
    if (!System.Text.Unicode.Utf8.TryWrite(into, System.Globalization.CultureInfo.InvariantCulture,
            $"{{\"run\":{runId},\"seq\":{seq},\"ts\":{ts},\"value\":{value}}}", out var written))
        throw new InvalidOperationException("a reading did not fit its buffer");
    return written;
}

static async Task PublishOneAsync(IMqttClient client, MqttApplicationMessage message, SemaphoreSlim window, Action failed)
{
    try
    {
        var result = await client.PublishAsync(message);
        if (!result.IsSuccess && result.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers) failed();
    }
    catch { failed(); }
    finally { window.Release(); }
}

// Startup probe: connects and subscribes first, says "PROBE ready" (run.sh starts the engine only
// then, so the probe's own start-up is not in the figure), publishes every 20 ms until the engine
// answers, and prints the wall-clock time of the answer (and the ms since --since-unix-ms).
static async Task<int> ProbeAsync(Options o)
{
    var answered = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
    IMqttClient? subscriber = null, publisher = null;
    var deadline = DateTime.UtcNow.AddSeconds(o.QuietSeconds * 12);
    while (subscriber is null)
    {
        try { subscriber = await ConnectAsync(o, "loadgen-probe-sub"); }
        catch when (DateTime.UtcNow < deadline) { await Task.Delay(20); }
    }
    subscriber.ApplicationMessageReceivedAsync += _ => { answered.TrySetResult(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()); return Task.CompletedTask; };
    await subscriber.SubscribeAsync(o.OutTopic);
    publisher = await ConnectAsync(o, "loadgen-probe-pub");
    await publisher.PublishStringAsync(WarmTopic(0), "{}"); // compiles the publish path before the engine starts
    Console.WriteLine("PROBE ready");
    Console.Out.Flush();
    var seq = 0;
    while (!answered.Task.IsCompleted && DateTime.UtcNow < deadline)
    {
        await publisher.PublishStringAsync(o.InTopic, $"{{\"run\":0,\"seq\":{seq++},\"ts\":0,\"value\":1}}");
        await Task.WhenAny(answered.Task, Task.Delay(20));
    }
    if (!answered.Task.IsCompleted) { Console.WriteLine("PROBE timeout"); return 1; }
    var answeredAt = await answered.Task;
    Console.WriteLine($"PROBE answered_unix_ms={answeredAt}" + (o.SinceUnixMs > 0 ? $" startup_ms={answeredAt - o.SinceUnixMs}" : ""));
    return 0;
}

static async Task<IMqttClient> ConnectAsync(Options o, string name)
{
    // FlowServer's own MQTT connection (one send per packet, read-ahead receives) costs the load
    // generator about a quarter of the CPU of MQTTnet's stock one, leaving more of the shared
    // cores to the broker and the engine under test. LOADGEN_CLIENT=mqttnet for the stock one.
    var client = Environment.GetEnvironmentVariable("LOADGEN_CLIENT") == "mqttnet"
        ? new MqttClientFactory().CreateMqttClient()
        : new MqttClientFactory().CreateMqttClient(new FlowServer.Nodes.Network.Mqtt.MqttSocketAdapterFactory());
    var options = new MqttClientOptionsBuilder().WithTcpServer(o.Host, o.Port).WithClientId($"{name}-{Guid.NewGuid():N}"[..23])
        .WithCleanSession().WithKeepAlivePeriod(TimeSpan.FromSeconds(60)).Build();
    // MQTTnet's 8 KiB socket buffers stall high rates; 4 MiB keeps the load generator out of the way.
    ((MqttClientTcpOptions)options.ChannelOptions).BufferSize = 4 << 20;
    await client.ConnectAsync(options);
    return client;
}

sealed record Options(string Host, int Port, int Count, int Rate, int Qos, int Fanout, string Check, string InTopic, string OutTopic,
    int InFlight, double QuietSeconds, string Tags, bool Probe, long SinceUnixMs)
{
    public static Options Parse(string[] args)
    {
        var map = new Dictionary<string, string>();
        var probe = false;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--probe") { probe = true; continue; }
            if (!args[i].StartsWith("--") || i + 1 >= args.Length) throw new ArgumentException($"bad argument '{args[i]}'");
            map[args[i][2..]] = args[++i];
        }
        string Get(string key, string fallback) => map.GetValueOrDefault(key, fallback);
        var broker = Get("broker", "127.0.0.1:1883").Split(':');
        return new Options(broker[0], int.Parse(broker[1]), int.Parse(Get("count", "10000")), int.Parse(Get("rate", "0")),
            int.Parse(Get("qos", "0")), int.Parse(Get("fanout", "1")), Get("check", "none"), Get("in", "bench/in"), Get("out", "bench/out"),
            int.Parse(Get("inflight", "100")), double.Parse(Get("quiet", "5"), System.Globalization.CultureInfo.InvariantCulture),
            Get("tags", ""), probe, long.Parse(Get("since-unix-ms", "0")));
    }
}

/// <summary>The fields of an output message the checks need.</summary>
readonly record struct Reading(int Run, int Seq, long Ts, double Value, double? Scaled, string? Level, int? Branch)
{
    public static bool TryParse(System.Buffers.ReadOnlySequence<byte> payload, out Reading reading)
    {
        reading = default;
        try
        {
            var reader = new Utf8JsonReader(payload);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            int run = -1, seq = -1; long ts = 0; double value = double.NaN; double? scaled = null; string? level = null; int? branch = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "run": run = reader.GetInt32(); break;
                    case "seq": seq = reader.GetInt32(); break;
                    case "ts": ts = reader.GetInt64(); break;
                    case "value": value = reader.GetDouble(); break;
                    case "scaled": scaled = reader.GetDouble(); break;
                    case "level": level = reader.GetString(); break;
                    case "branch": branch = (int)reader.GetDouble(); break;
                    default: reader.Skip(); break;
                }
            }
            reading = new Reading(run, seq, ts, value, scaled, level, branch);
            return run >= 0;
        }
        catch (JsonException) { return false; }
        catch (InvalidOperationException) { return false; }
        catch (FormatException) { return false; }
    }

    public static bool Check(string scenario, Reading r)
    {
        var expectedValue = (r.Seq * 7919 % 10000) / 100.0;
        if (Math.Abs(r.Value - expectedValue) > 1e-9) return false;
        return scenario switch
        {
            "function" or "fanout" => r.Scaled is { } s && Math.Abs(s - (r.Value * 1.8 + 32)) < 1e-6,
            "switch" => r.Level == (r.Value > 50 ? "high" : "low"),
            _ => true,
        };
    }
}
