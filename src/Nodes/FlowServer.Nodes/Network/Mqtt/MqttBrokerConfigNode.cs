using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace FlowServer.Nodes.Network.Mqtt;

public sealed class MqttBrokerOptions : NodeOptions
{
    [Property("broker", Required = true, Label = "Server", Help = "Host name or IP address of the MQTT broker")]
    public string Broker { get; set; } = "";

    [Property("port", Editor = PropertyEditor.Number, Min = 1, Max = 65535)]
    public int Port { get; set; } = 1883;

    [Property("clientid", Label = "Client ID", Help = "Empty for a generated id")]
    public string ClientId { get; set; } = "";

    [Property("usetls", Editor = PropertyEditor.Checkbox, Label = "Use TLS", Help = "Without a TLS configuration the broker's certificate is checked against the system's trusted roots")]
    public bool UseTls { get; set; }

    [Property("tls", Editor = PropertyEditor.ConfigNode, ConfigType = "tls-config", Label = "TLS configuration", Help = "CA, client certificate and verification settings used when Use TLS is on")]
    public string Tls { get; set; } = "";

    [Property("protocolVersion", Editor = PropertyEditor.Select, Choices = ["3", "4", "5"], Label = "Protocol", Help = "3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5")]
    public int ProtocolVersion { get; set; } = 4;

    [Property("keepalive", Editor = PropertyEditor.Number, Min = 0, Max = 65535, Label = "Keep alive (s)")]
    public int KeepAlive { get; set; } = 60;

    [Property("cleansession", Editor = PropertyEditor.Checkbox, Label = "Clean session")]
    public bool CleanSession { get; set; } = true;

    [Property("sessionExpiry", Editor = PropertyEditor.Number, Min = 0, Label = "Session expiry (s)", Help = "MQTT 5 only; keeps the session on the broker this long after a disconnect")]
    public uint SessionExpiry { get; set; }

    [Property("autoConnect", Editor = PropertyEditor.Checkbox, Label = "Connect automatically", Help = "When off, the connection opens on first use")]
    public bool AutoConnect { get; set; } = true;

    [Property("birthTopic", Label = "Birth topic", Help = "Published on every (re)connect; empty for none")]
    public string BirthTopic { get; set; } = "";

    [Property("birthQos", Editor = PropertyEditor.Select, Choices = ["0", "1", "2"], Label = "Birth QoS")]
    public int BirthQos { get; set; }

    [Property("birthRetain", Editor = PropertyEditor.Checkbox, Label = "Retain birth message")]
    public bool BirthRetain { get; set; }

    [Property("birthPayload", Label = "Birth payload")]
    public string BirthPayload { get; set; } = "";

    [Property("closeTopic", Label = "Close topic", Help = "Published before a clean disconnect (stop or redeploy); empty for none")]
    public string CloseTopic { get; set; } = "";

    [Property("closeQos", Editor = PropertyEditor.Select, Choices = ["0", "1", "2"], Label = "Close QoS")]
    public int CloseQos { get; set; }

    [Property("closeRetain", Editor = PropertyEditor.Checkbox, Label = "Retain close message")]
    public bool CloseRetain { get; set; }

    [Property("closePayload", Label = "Close payload")]
    public string ClosePayload { get; set; } = "";

    [Property("willTopic", Label = "Will topic", Help = "The broker publishes this when the connection is lost without a clean disconnect; empty for none")]
    public string WillTopic { get; set; } = "";

    [Property("willQos", Editor = PropertyEditor.Select, Choices = ["0", "1", "2"], Label = "Will QoS")]
    public int WillQos { get; set; }

    [Property("willRetain", Editor = PropertyEditor.Checkbox, Label = "Retain will message")]
    public bool WillRetain { get; set; }

    [Property("willPayload", Label = "Will payload")]
    public string WillPayload { get; set; } = "";

    [Credential("user", Label = "Username")]
    public string? User { get; set; }

    [Credential("password", Secret = true, Label = "Password")]
    public string? Password { get; set; }

    [JsonIgnore] public string Address => $"{Broker}:{Port}";
}

/// <summary>
/// One subscription of one node: the node's filter and options and where matching messages go.
/// </summary>
public sealed record MqttSubscription(
    string Filter,
    MqttQualityOfServiceLevel Qos,
    bool NoLocal,
    bool RetainAsPublished,
    MqttRetainHandling RetainHandling,
    Func<MqttApplicationMessage, CancellationToken, Task> Handler,
    CancellationToken Stopping);

[NodeType("mqtt-broker", Category = "config", Color = "#d8bfd8", Icon = "bridge",
    Help = """
    A connection to an MQTT broker, shared by every `mqtt in` and `mqtt out` node that uses it.

    ### Details
    The connection opens in the background: a deploy never waits for the broker. While the broker
    is unreachable the nodes using it show a red *disconnected* status and it retries with a
    growing pause (1 s up to 30 s). After a reconnect every subscription is renewed; publishes
    wait for the connection instead of being dropped.

    An empty *client ID* gets a generated one. *protocolVersion* is 3 (MQTT 3.1), 4 (3.1.1) or 5.

    *Use TLS* encrypts the connection; a `tls-config` node gives the CA to trust, a client
    certificate and whether to verify the server. The *birth* message is published on every
    connect, the *close* message before a clean disconnect (stop or redeploy), and the *will*
    message is left with the broker, which publishes it if the connection dies.

    QoS 1/2 messages are acknowledged once the flow took them, and at most 1,000 received
    messages (of any QoS) wait for the flow: beyond that the connection stops reading and the
    broker holds the rest.
    It keeps reading while one of its own QoS 1/2 publishes awaits its acknowledgement, so for a
    flow that may fall far behind, give its `mqtt out` a broker node of its own.
    """)]
public sealed class MqttBrokerConfigNode : ConfigNode<MqttBrokerOptions>, IMetricsSource
{
    static readonly TimeSpan FirstRetryDelay = TimeSpan.FromSeconds(1);
    static readonly TimeSpan LongestRetryDelay = TimeSpan.FromSeconds(30);
    static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    const int SocketBufferBytes = 1 << 20;

    readonly Lock _gate = new();
    readonly List<INodeContext> _users = [];
    readonly List<MqttSubscription> _subscriptions = [];
    // A copy of _subscriptions, replaced on every change: each received message reads it without a lock or a list of its own.
    MqttSubscription[] _subscriptionSnapshot = [];
    readonly SemaphoreSlim _connectionLost = new(0);
    TaskCompletionSource _connected = NewSignal();
    // QoS 1/2 publishes unacknowledged on an MQTT 5 connection, up to the Receive Maximum the broker
    // announces at connect (Mosquitto's is 20, and it refuses or drops what comes beyond it).
    readonly MqttPublishWindow _receiveMaximum = new(ushort.MaxValue);
    // QoS 2 publishes one at a time. MQTTnet sends each PUBREL from a thread-pool continuation, so
    // with several in flight the PUBRELs can leave out of order, and Mosquitto hands QoS 2
    // messages on at PUBREL: subscribers saw them reordered. One at a time also keeps within the
    // in-flight limit a 3.1.1 broker has for QoS 2 but cannot announce (Mosquitto 20, beyond it
    // resets the connection).
    readonly MqttPublishWindow _exactlyOnce = new(1);
    IMqttClient? _client;
    MqttClientOptions? _clientOptions;
    CancellationTokenSource? _loopCancel;
    Task? _loop;
    NodeStatus _status = NodeStatus.Idle("not connected");
    // Held while a status is handed to the users (outside _gate: their status goes on to status
    // nodes and the editor), so that they get the changes in the order they happened. Without it
    // a node starting while the connection came up could be handed "not connected" after
    // "connected", and keep showing it (a test saw that once in a full run).
    readonly Lock _statusOrder = new();
    long _undelivered;

    /// <summary>Bounds the messages read from the broker and not yet taken by the flow.</summary>
    public MqttReceiveLimit ReceiveLimit { get; } = new(MqttReceiveLimit.DefaultLimit);

    /// <summary>Holds what the flow publishes while this connection hands it a burst of messages, until the burst ends.</summary>
    internal MqttDeliveryBurst Burst { get; } = new();

    public IEnumerable<NodeMetric> Metrics =>
    [
        new("mqtt_undelivered_total", "Messages not handed to the flow because their mqtt in stopped while the flow was busy (QoS 1/2 ones are left unacknowledged for the broker to send again).",
            "counter", Interlocked.Read(ref _undelivered)),
        new("mqtt_waiting", "Messages received from the broker that the flow has not taken yet (QoS 1/2 ones are acknowledged once it has).",
            "gauge", ReceiveLimit.Waiting),
        new("mqtt_read_pauses_total", $"Times reading from the broker paused because {ReceiveLimit.Limit} received messages waited for the flow (the broker holds the rest).",
            "counter", ReceiveLimit.Pauses),
    ];

    /// <summary>The broker's address as <c>host:port</c>.</summary>
    public string Address => Options.Address;

    /// <summary>True when the connection speaks MQTT 5 (message and subscription properties are sent only then).</summary>
    public bool IsVersion5 => Options.ProtocolVersion == 5;

    /// <summary>True while the client holds a connection.</summary>
    public bool IsConnected => _client?.IsConnected == true;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var clientId = string.IsNullOrWhiteSpace(Options.ClientId) ? $"flowserver_{FlowMessage.NewMessageId()[..8]}" : Options.ClientId;
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(Options.Broker, Options.Port)
            .WithClientId(clientId)
            .WithProtocolVersion(Options.ProtocolVersion switch { 3 => MqttProtocolVersion.V310, 5 => MqttProtocolVersion.V500, _ => MqttProtocolVersion.V311 })
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(Options.KeepAlive))
            .WithCleanSession(Options.CleanSession)
            .WithTimeout(ConnectTimeout);
        if (Options.ProtocolVersion == 5 && Options.SessionExpiry > 0) builder.WithSessionExpiryInterval(Options.SessionExpiry);
        if (!string.IsNullOrEmpty(Options.User)) builder.WithCredentials(Options.User, Options.Password ?? "");
        if (Options.UseTls) builder.WithTlsOptions(ConfigureTls);
        if (!string.IsNullOrEmpty(Options.WillTopic))
            builder.WithWillTopic(Options.WillTopic).WithWillPayload(Options.WillPayload)
                .WithWillQualityOfServiceLevel((MqttQualityOfServiceLevel)Options.WillQos).WithWillRetain(Options.WillRetain);
        _clientOptions = builder.Build();
        // MQTTnet's 8 KiB socket buffers are never grown by Linux: a busy subscriber then stalls
        // on pruned segments and retransmission timeouts. 1 MiB keeps high rates flowing.
        if (_clientOptions.ChannelOptions is MqttClientTcpOptions tcp) tcp.BufferSize = SocketBufferBytes;

        _client = new MqttClientFactory().CreateMqttClient(new MqttSocketAdapterFactory(ReceiveLimit));
        _client.ApplicationMessageReceivedAsync += OnMessageReceivedAsync;
        _client.DisconnectedAsync += OnDisconnectedAsync;
        if (Options.AutoConnect) EnsureConnecting();
        return Task.CompletedTask;
    }

    void ConfigureTls(MqttClientTlsOptionsBuilder tls)
    {
        tls.UseTls();
        if (string.IsNullOrEmpty(Options.Tls)) return;
        var settings = Context.GetConfigNode<TlsConfigNode>(Options.Tls).Settings;
        var validate = settings.CreateServerValidator();
        tls.WithTargetHost(string.IsNullOrEmpty(settings.ServerName) ? Options.Broker : settings.ServerName)
            .WithCertificateValidationHandler(e => validate(e.Certificate, e.Chain, e.SslPolicyErrors));
        if (settings.LoadClientCertificate() is { } certificate) tls.WithClientCertificates([certificate]);
        if (!string.IsNullOrEmpty(settings.AlpnProtocol)) tls.WithApplicationProtocols([new System.Net.Security.SslApplicationProtocol(settings.AlpnProtocol)]);
    }

    // Birth and close messages, as Node-RED's broker node sends them: plain payload text.
    async Task PublishAnnouncementAsync(string topic, string payload, int qos, bool retain, CancellationToken token)
    {
        if (string.IsNullOrEmpty(topic)) return;
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)qos).WithRetainFlag(retain).Build();
        try { await _client!.PublishAsync(message, token); }
        catch (Exception e) when (e is not OperationCanceledException) { Context.Warn($"could not publish to '{topic}': {Reason(e)}"); }
    }

    /// <summary>
    /// Called by a node that uses this connection, at its start: the node's status follows the
    /// connection from now on. Dispose the result when the node stops.
    /// </summary>
    public IDisposable AddUser(INodeContext user)
    {
        lock (_statusOrder)
        {
            NodeStatus status;
            lock (_gate)
            {
                _users.Add(user);
                status = _status;
            }
            user.SetStatus(status);
        }
        EnsureConnecting();
        return new Release(() => { lock (_gate) _users.Remove(user); });
    }

    /// <summary>
    /// Registers a subscription; it is sent to the broker now when connected and again after
    /// every reconnect. The handler runs for each matching message, one at a time in arrival
    /// order; QoS 1/2 messages are acknowledged to the broker only after every matching handler
    /// returned. Dispose the result to unsubscribe (the broker is told when no node still needs the filter).
    /// </summary>
    public async Task<IAsyncDisposable> SubscribeAsync(MqttSubscription subscription, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _subscriptions.Add(subscription);
            _subscriptionSnapshot = [.. _subscriptions];
        }
        EnsureConnecting();
        if (IsConnected)
        {
            try { await SendSubscribeAsync([subscription.Filter], cancellationToken); }
            // A connection lost right now is fine: the reconnect subscribes again.
            catch (Exception e) when (e is not OperationCanceledException) { Context.Logger.LogDebug(e, "subscribing to {Filter} failed; retried on reconnect", subscription.Filter); }
        }
        return new AsyncRelease(() => UnsubscribeAsync(subscription));
    }

    async Task UnsubscribeAsync(MqttSubscription subscription)
    {
        bool stillNeeded;
        lock (_gate)
        {
            _subscriptions.Remove(subscription);
            _subscriptionSnapshot = [.. _subscriptions];
            stillNeeded = _subscriptions.Any(s => s.Filter == subscription.Filter);
        }
        if (stillNeeded || !IsConnected) return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _client!.UnsubscribeAsync(new MqttClientUnsubscribeOptionsBuilder().WithTopicFilter(subscription.Filter).Build(), timeout.Token);
        }
        catch (Exception e) { Context.Logger.LogDebug(e, "unsubscribing from {Filter} failed", subscription.Filter); }
    }

    /// <summary>
    /// Publishes a message, waiting for the connection when it is down (never dropping). Returns
    /// when the broker acknowledged it (QoS 1/2) or it was written (QoS 0). Throws
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> fires first.
    /// </summary>
    public async Task PublishAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        await TakePublishSlotAsync(message, cancellationToken);
        await PublishInSlotAsync(message, cancellationToken);
    }

    /// <summary>
    /// Takes the slots a publish holds until it is acknowledged: QoS 2 ones go one at a time, and
    /// on an MQTT 5 connection QoS 1/2 ones stay within the broker's Receive Maximum. A caller that
    /// publishes without waiting for each acknowledgement awaits this in order, then calls
    /// <see cref="PublishInSlotAsync"/>: the publishes then go out in the order the slots were taken.
    /// </summary>
    public async ValueTask TakePublishSlotAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        var exactlyOnce = message.QualityOfServiceLevel == MqttQualityOfServiceLevel.ExactlyOnce;
        if (exactlyOnce) await _exactlyOnce.WaitAsync(cancellationToken);
        if (!WithinReceiveMaximum(message)) return;
        try { await _receiveMaximum.WaitAsync(cancellationToken); }
        catch
        {
            if (exactlyOnce) _exactlyOnce.Release();
            throw;
        }
    }

    void ReleasePublishSlot(MqttApplicationMessage message)
    {
        if (WithinReceiveMaximum(message)) _receiveMaximum.Release();
        if (message.QualityOfServiceLevel == MqttQualityOfServiceLevel.ExactlyOnce) _exactlyOnce.Release();
    }

    bool WithinReceiveMaximum(MqttApplicationMessage message) => IsVersion5 && message.QualityOfServiceLevel != MqttQualityOfServiceLevel.AtMostOnce;

    /// <summary>Publishes as <see cref="PublishAsync"/> does, in the slot <see cref="TakePublishSlotAsync"/> took, and gives the slot back.</summary>
    public async Task PublishInSlotAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        EnsureConnecting();
        try
        {
            while (true)
            {
                var connection = Volatile.Read(ref _connected);
                await connection.Task.WaitAsync(cancellationToken);
                try
                {
                    var result = await _client!.PublishAsync(message, cancellationToken);
                    if (!result.IsSuccess && result.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
                        throw new FlowNodeException($"the broker {Address} refused the message on '{message.Topic}': {result.ReasonCode} {result.ReasonString}");
                    return;
                }
                // The connection dropped under us (it may be back already): wait for the reconnect
                // and send again (at least once), keeping the slot.
                catch (Exception e) when (e is not FlowNodeException && !cancellationToken.IsCancellationRequested
                                          && (_client?.IsConnected != true || connection != Volatile.Read(ref _connected)))
                {
                    await Task.Delay(50, cancellationToken);
                }
            }
        }
        finally { ReleasePublishSlot(message); }
    }

    void EnsureConnecting()
    {
        lock (_gate)
        {
            if (_loop is not null || _client is null) return;
            _loopCancel = CancellationTokenSource.CreateLinkedTokenSource(Context.Stopping);
            _loop = Task.Run(() => KeepConnectedAsync(_loopCancel.Token));
        }
    }

    async Task KeepConnectedAsync(CancellationToken token)
    {
        var delay = FirstRetryDelay;
        var failures = 0;
        while (!token.IsCancellationRequested)
        {
            if (!_client!.IsConnected)
            {
                SetStatus(NodeStatus.Pending("connecting"));
                try
                {
                    var connected = await _client.ConnectAsync(_clientOptions!, token);
                    if (IsVersion5) _receiveMaximum.Resize(connected.ReceiveMaximum is > 0 and var most ? most : ushort.MaxValue);
                    await PublishAnnouncementAsync(Options.BirthTopic, Options.BirthPayload, Options.BirthQos, Options.BirthRetain, token);
                    await SendSubscribeAsync(null, token);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested) { return; }
                catch (Exception e)
                {
                    failures++;
                    if (failures == 1)
                        Context.ReportError($"mqtt-broker '{Context.NodeName ?? Context.NodeId}' cannot connect to {Address}: {Reason(e)}; retrying in the background");
                    else
                        Context.Logger.LogDebug("connect attempt {Attempt} to {Address} failed: {Reason}", failures, Address, Reason(e));
                    SetStatus(NodeStatus.Failed("disconnected"));
                    if (_client.IsConnected) await SafeDisconnectAsync();
                    try { await Task.Delay(delay, token); }
                    catch (OperationCanceledException) { return; }
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestRetryDelay.Ticks));
                    continue;
                }
                if (failures > 0) Context.Log($"connected to {Address} after {failures + 1} attempts");
                failures = 0;
                delay = FirstRetryDelay;
                SetStatus(NodeStatus.Ok("connected"));
                Volatile.Read(ref _connected).TrySetResult();
            }
            try { await _connectionLost.WaitAsync(token); }
            catch (OperationCanceledException) { return; }
        }
    }

    Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        Burst.Send(); // what the last burst held, on this or another connection
        if (!e.ClientWasConnected) return Task.CompletedTask;
        // Publishers now wait on a fresh signal until the reconnect.
        lock (_gate) if (_connected.Task.IsCompleted) _connected = NewSignal();
        if (Context.Stopping.IsCancellationRequested) return Task.CompletedTask;
        Context.Warn($"lost the connection to {Address}: {e.Reason}{(e.Exception is null ? "" : $" ({Reason(e.Exception)})")}; reconnecting");
        SetStatus(NodeStatus.Failed("disconnected"));
        _connectionLost.Release();
        return Task.CompletedTask;
    }

    // Sends SUBSCRIBE for the given filters (null: every registered one), each at the highest QoS any node asked for.
    async Task SendSubscribeAsync(IReadOnlyCollection<string>? filters, CancellationToken token)
    {
        List<MqttSubscription> wanted;
        lock (_gate) wanted = _subscriptions.Where(s => filters is null || filters.Contains(s.Filter)).ToList();
        if (wanted.Count == 0) return;
        var builder = new MqttClientSubscribeOptionsBuilder();
        foreach (var group in wanted.GroupBy(s => s.Filter))
        {
            var first = group.First();
            var filter = new MqttTopicFilterBuilder().WithTopic(group.Key).WithQualityOfServiceLevel(group.Max(s => s.Qos));
            if (IsVersion5) filter.WithNoLocal(first.NoLocal).WithRetainAsPublished(first.RetainAsPublished).WithRetainHandling(first.RetainHandling);
            builder.WithTopicFilter(filter.Build());
        }
        var result = await _client!.SubscribeAsync(builder.Build(), token);
        foreach (var item in result.Items)
        {
            if ((int)item.ResultCode > 2)
                Context.ReportError($"the broker {Address} refused the subscription to '{item.TopicFilter.Topic}': {item.ResultCode}");
        }
    }

    async Task OnMessageReceivedAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        // Acknowledge only once the flow took the message: a slow flow slows the broker down instead of losing data.
        e.AutoAcknowledge = false;
        var topic = e.ApplicationMessage.Topic;
        var undelivered = false;
        foreach (var target in Volatile.Read(ref _subscriptionSnapshot))
        {
            if (!MqttTopic.Matches(target.Filter, topic)) continue;
            try
            {
                Task handling;
                using (Burst.Deliver()) handling = target.Handler(e.ApplicationMessage, target.Stopping);
                // It waits for something, maybe for what it wrote (a QoS 1 publish for room in its window): sent now.
                if (!handling.IsCompleted) Burst.Send();
                await handling;
            }
            catch (OperationCanceledException) when (target.Stopping.IsCancellationRequested) { undelivered = true; }
            catch (Exception ex) { Context.Logger.LogError(ex, "delivering a message on '{Topic}' failed", topic); }
        }
        // Settled without an acknowledgement: QoS 0 has none, and an undelivered QoS 1/2 message gets none.
        if (undelivered || e.ApplicationMessage.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce) ReceiveLimit.Release();
        if (undelivered)
        {
            // Not acknowledged: with a persistent session (clean session off) the broker sends it
            // again when the connection resumes; acknowledging it would lose it for good.
            var total = Interlocked.Increment(ref _undelivered);
            Burst.Send();
            Context.Logger.LogWarning("a message on '{Topic}' (QoS {Qos}) was not delivered: its mqtt in node stopped while the flow was busy; {Outcome} ({Total} so far)",
                topic, (int)e.ApplicationMessage.QualityOfServiceLevel,
                e.ApplicationMessage.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce ? "it is lost" : "it is left unacknowledged for the broker to send again", total);
            return;
        }
        try
        {
            Task acknowledging;
            using (Burst.Deliver()) acknowledging = e.AcknowledgeAsync(CancellationToken.None);
            await acknowledging;
        }
        catch (Exception ex) { Context.Logger.LogDebug(ex, "acknowledging a message on '{Topic}' failed; the broker sends it again", topic); }
        Burst.Delivered(moreWaiting: ReceiveLimit.Waiting > 0);
    }

    void SetStatus(NodeStatus status)
    {
        lock (_statusOrder)
        {
            INodeContext[] users;
            lock (_gate)
            {
                if (_status == status) return;
                _status = status;
                users = _users.ToArray();
            }
            foreach (var user in users) user.SetStatus(status);
        }
    }

    async Task SafeDisconnectAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _client!.DisconnectAsync(new MqttClientDisconnectOptions(), timeout.Token);
        }
        catch (Exception e) { Context.Logger.LogDebug(e, "disconnect from {Address} failed", Address); }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        Burst.Send();
        _loopCancel?.Cancel();
        if (_loop is not null)
        {
            try { await _loop.WaitAsync(cancellationToken); }
            catch (OperationCanceledException) { }
        }
        if (_client is not null)
        {
            if (_client.IsConnected)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await PublishAnnouncementAsync(Options.CloseTopic, Options.ClosePayload, Options.CloseQos, Options.CloseRetain, timeout.Token);
                await SafeDisconnectAsync();
            }
            _client.Dispose();
        }
        _loopCancel?.Dispose();
    }

    static string Reason(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        return inner == e ? e.Message : $"{e.Message} ({inner.Message})";
    }

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    sealed class Release(Action action) : IDisposable
    {
        int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) action(); }
    }

    sealed class AsyncRelease(Func<Task> action) : IAsyncDisposable
    {
        int _done;
        public async ValueTask DisposeAsync() { if (Interlocked.Exchange(ref _done, 1) == 0) await action(); }
    }
}

/// <summary>MQTT topic filter matching (<c>+</c> one level, <c>#</c> the rest).</summary>
public static class MqttTopic
{
    /// <summary>Whether <paramref name="topic"/> matches <paramref name="filter"/>; shared subscriptions (<c>$share/group/…</c>) match by their filter.</summary>
    public static bool Matches(string filter, string topic)
    {
        // Runs for every subscription on every received message: level by level over spans, no allocation.
        var f = filter.AsSpan();
        var t = topic.AsSpan();
        if (f.StartsWith("$share/", StringComparison.Ordinal))
        {
            var slash = f[7..].IndexOf('/');
            if (slash < 0) return false;
            f = f[(7 + slash + 1)..];
        }
        // Wildcards at the first level never match topics starting with '$' ($SYS).
        if (t.StartsWith("$") && (f.StartsWith("+") || f.StartsWith("#"))) return false;
        while (true)
        {
            var fLevel = NextLevel(ref f, out var fMore);
            if (fLevel is "#") return true;
            var tLevel = NextLevel(ref t, out var tMore);
            if (!(fLevel is "+" || fLevel.SequenceEqual(tLevel))) return false;
            if (!fMore) return !tMore;
            if (!tMore) return NextLevel(ref f, out _) is "#"; // "a/#" matches "a"
        }
    }

    // The level before the next '/', advancing past it; more says whether a '/' followed.
    static ReadOnlySpan<char> NextLevel(ref ReadOnlySpan<char> rest, out bool more)
    {
        var slash = rest.IndexOf('/');
        if (slash < 0)
        {
            var last = rest;
            rest = default;
            more = false;
            return last;
        }
        var level = rest[..slash];
        rest = rest[(slash + 1)..];
        more = true;
        return level;
    }

    /// <summary>Why a filter is not valid, or null when it is.</summary>
    public static string? ValidateFilter(string filter)
    {
        if (filter.Length == 0) return "is empty";
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('#') && (level != "#" || i != levels.Length - 1)) return $"'{filter}': '#' must be a whole level and the last one";
            if (level.Contains('+') && level != "+") return $"'{filter}': '+' must be a whole level";
        }
        return null;
    }
}
