using System.Net.WebSockets;
using System.Text.Json;
using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;

namespace FlowServer.Api;

/// <summary>
/// The live socket at <c>/comms</c>, in Node-RED's protocol: the client sends
/// <c>{"subscribe":"debug"}</c> (or <c>status/#</c>, <c>notification/#</c>); the server pushes
/// arrays of <c>{topic, data}</c>, at most 50 per frame, and a heartbeat (<c>hb</c>) every 15 s.
/// </summary>
public static class CommsEndpoint
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapComms(this IEndpointRouteBuilder app)
    {
        app.Map("/comms", async (HttpContext http, RuntimeEvents events) =>
        {
            if (!http.WebSockets.IsWebSocketRequest) return Results.BadRequest(new { code = "websocket_required", message = "/comms is a WebSocket endpoint" });
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            await RunAsync(socket, events, http.RequestAborted);
            return Results.Empty;
        });
        return app;
    }

    static async Task RunAsync(WebSocket socket, RuntimeEvents events, CancellationToken aborted)
    {
        using var subscription = events.Subscribe();
        var topics = new List<string>();
        var topicsLock = new Lock();
        using var done = CancellationTokenSource.CreateLinkedTokenSource(aborted);

        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[16 * 1024];
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    var result = await socket.ReceiveAsync(buffer, done.Token);
                    if (result.MessageType == WebSocketMessageType.Close) break;
                    try
                    {
                        using var request = JsonDocument.Parse(buffer.AsMemory(0, result.Count));
                        if (request.RootElement.TryGetProperty("subscribe", out var topic) && topic.GetString() is { } t)
                        {
                            lock (topicsLock) topics.Add(t);
                            if (Matches(t, "status/x")) await SendStatusSnapshotAsync(socket, events, done.Token);
                        }
                    }
                    catch (JsonException) { /* not a request we understand: ignore, as Node-RED does */ }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
            finally { done.Cancel(); }
        });

        var batch = new List<object>(50);
        var heartbeat = DateTime.UtcNow.AddSeconds(15);
        try
        {
            while (!done.IsCancellationRequested)
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(done.Token);
                wait.CancelAfter(heartbeat - DateTime.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero);
                try { await subscription.Reader.WaitToReadAsync(wait.Token); }
                catch (OperationCanceledException) when (!done.IsCancellationRequested) { }

                batch.Clear();
                while (batch.Count < 50 && subscription.Reader.TryRead(out var item))
                {
                    bool wanted;
                    lock (topicsLock) wanted = topics.Any(t => Matches(t, item.Topic));
                    if (wanted) batch.Add(new { topic = item.Topic, data = Shape(item.Data) });
                }
                if (DateTime.UtcNow >= heartbeat)
                {
                    batch.Add(new { topic = "hb", data = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
                    heartbeat = DateTime.UtcNow.AddSeconds(15);
                }
                if (batch.Count > 0) await SendAsync(socket, batch, done.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
        await receiving;
        if (socket.State == WebSocketState.Open)
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
    }

    static async Task SendStatusSnapshotAsync(WebSocket socket, RuntimeEvents events, CancellationToken cancel)
    {
        var items = events.Statuses.Select(kv => (object)new { topic = "status/" + kv.Key, data = Shape(kv.Value) }).ToList();
        if (items.Count > 0) await SendAsync(socket, items, cancel);
    }

    static object Shape(object data) => data is NodeStatus status ? new { fill = status.Fill, shape = status.Shape, text = status.Text } : data;

    // Both the receive loop (status snapshot) and the event pump send; a socket takes one send at a time.
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<WebSocket, SemaphoreSlim> SendGates = new();

    static async Task SendAsync(WebSocket socket, List<object> items, CancellationToken cancel)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(items, Json);
        var gate = SendGates.GetValue(socket, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancel);
        try { await socket.SendAsync(bytes, WebSocketMessageType.Text, true, cancel); }
        finally { gate.Release(); }
    }

    // MQTT-like topic filters, as Node-RED's comms uses them: "status/#", "debug", "notification/#".
    static bool Matches(string filter, string topic)
    {
        if (filter == "#" || filter == topic) return true;
        if (filter.EndsWith("/#", StringComparison.Ordinal)) return topic.StartsWith(filter[..^1], StringComparison.Ordinal) || topic == filter[..^2];
        return false;
    }
}
