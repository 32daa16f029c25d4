using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Runtime;
using FlowServer.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace FlowServer.Tests.Api;

public sealed class AdminApiTests
{
    const string SampleFlow = """
    [
      {"id":"t1","type":"tab","label":"Line 1","disabled":false,"info":"","env":[]},
      {"id":"inj","type":"inject","z":"t1","name":"tick","props":[{"p":"payload"},{"p":"topic","vt":"str"}],"repeat":"","crontab":"","once":false,"onceDelay":0.1,"topic":"line1/tick","payload":"{\"v\":42}","payloadType":"json","x":110,"y":60,"wires":[["dbg"]],"customThing":{"kept":[1,2,3]}},
      {"id":"dbg","type":"debug","z":"t1","name":"show","active":true,"tosidebar":true,"console":false,"tostatus":false,"complete":"payload","targetType":"msg","statusVal":"","statusType":"auto","x":300,"y":60,"wires":[]}
    ]
    """;

    [Fact]
    public async Task Posted_flows_come_back_with_every_property_kept()
    {
        await using var server = await FlowServerInstance.StartAsync();
        var post = await server.DeployAsync(SampleFlow);
        Assert.Equal(HttpStatusCode.NoContent, post.StatusCode);

        var flows = JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray();
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(SampleFlow), flows), flows.ToJsonString());
    }

    [Fact]
    public async Task V2_returns_the_revision_and_refuses_a_stale_one()
    {
        await using var server = await FlowServerInstance.StartAsync();
        var first = await server.DeployAsync(new JsonObject { ["flows"] = JsonNode.Parse(SampleFlow) }.ToJsonString(), v2: true);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var rev = (await first.Content.ReadFromJsonAsync<JsonObject>())!["rev"]!.GetValue<string>();

        var request = new HttpRequestMessage(HttpMethod.Get, "/flows");
        request.Headers.Add("Node-RED-API-Version", "v2");
        var current = JsonNode.Parse(await (await server.Http.SendAsync(request)).Content.ReadAsStringAsync())!;
        Assert.Equal(rev, current["rev"]!.GetValue<string>());
        Assert.Equal(3, current["flows"]!.AsArray().Count);

        var changed = SampleFlow.Replace("\"tick\"", "\"tock\"");
        var second = await server.DeployAsync(new JsonObject { ["flows"] = JsonNode.Parse(changed), ["rev"] = rev }.ToJsonString(), v2: true);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        var stale = await server.DeployAsync(new JsonObject { ["flows"] = JsonNode.Parse(SampleFlow), ["rev"] = rev }.ToJsonString(), v2: true);
        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
        Assert.Equal("version_mismatch", JsonNode.Parse(await stale.Content.ReadAsStringAsync())!["code"]!.GetValue<string>());
        Assert.Contains("tock", await server.Http.GetStringAsync("/flows"));
    }

    [Fact]
    public async Task An_invalid_flow_is_refused_with_every_error_and_the_running_flow_stays()
    {
        await using var server = await FlowServerInstance.StartAsync();
        await server.DeployAsync(SampleFlow);
        var bad = """
        [{"id":"t1","type":"tab"},
         {"id":"x1","type":"mystery","z":"t1","name":"What","wires":[]},
         {"id":"i1","type":"inject","z":"t1","repeat":"soon","wires":[["nowhere"]]}]
        """;
        var response = await server.DeployAsync(bad);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("unknown node type 'mystery'", text); // readable as sent, not \u0027-escaped
        var body = JsonNode.Parse(text)!;
        var errors = body["errors"]!.AsArray();
        Assert.Contains(errors, e => e!["id"]!.GetValue<string>() == "x1" && e["field"]!.GetValue<string>() == "type" && e["name"]!.GetValue<string>() == "What");
        Assert.Contains(errors, e => e!["id"]!.GetValue<string>() == "i1" && e["field"]!.GetValue<string>() == "repeat");
        Assert.Contains(errors, e => e!["id"]!.GetValue<string>() == "i1" && e["field"]!.GetValue<string>() == "wires");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(SampleFlow), JsonNode.Parse(await server.Http.GetStringAsync("/flows"))));
        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/inject/inj", null)).StatusCode);
        var revision = Assert.Single(JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray());
        Assert.Equal(JsonNode.Parse(SampleFlow)!.AsArray().Count, revision!["nodeCount"]!.GetValue<int>()); // counted by the deploy, stored with the revision

        var badType = await server.DeployAsync(SampleFlow, type: "everything");
        Assert.Equal(HttpStatusCode.BadRequest, badType.StatusCode);
        Assert.Equal("invalid_deployment_type", JsonNode.Parse(await badType.Content.ReadAsStringAsync())!["code"]!.GetValue<string>());
        Assert.Single(JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray());

        var malformed = await server.DeployAsync("[{\"id\":");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Contains("malformed flow JSON", await malformed.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Credentials_are_stored_but_never_returned()
    {
        await using var server = await FlowServerInstance.StartAsync();
        var flow = """
        [{"id":"b1","type":"mqtt-broker","name":"plant","broker":"127.0.0.1","port":"1","credentials":{"user":"operator","password":"s3cret-pw"}}]
        """;
        Assert.Equal(HttpStatusCode.NoContent, (await server.DeployAsync(flow)).StatusCode);

        var flows = await server.Http.GetStringAsync("/flows");
        Assert.DoesNotContain("s3cret-pw", flows);
        Assert.DoesNotContain("credentials", flows);
        var view = JsonNode.Parse(await server.Http.GetStringAsync("/credentials/mqtt-broker/b1"))!;
        Assert.Equal("operator", view["user"]!.GetValue<string>());
        Assert.True(view["has_password"]!.GetValue<bool>());
        Assert.Null(view["password"]);

        // Re-posting what GET /flows returned (no credentials) keeps the stored ones.
        await server.DeployAsync(flows);
        view = JsonNode.Parse(await server.Http.GetStringAsync("/credentials/mqtt-broker/b1"))!;
        Assert.True(view["has_password"]!.GetValue<bool>());

        var checkedFiles = 0;
        foreach (var file in Directory.EnumerateFiles(server.Options.DataDirectory, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try { bytes = await File.ReadAllBytesAsync(file); }
            catch (FileNotFoundException) { continue; } // SQLite removes its -wal/-shm files at checkpoints
            Assert.DoesNotContain("s3cret-pw", Encoding.UTF8.GetString(bytes));
            checkedFiles++;
        }
        Assert.True(checkedFiles > 0, "the data directory holds no files to check");
    }

    [Fact]
    public async Task Flows_survive_a_restart()
    {
        await using var server = await FlowServerInstance.StartAsync();
        await server.DeployAsync(SampleFlow);
        await server.RestartAsync();

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(SampleFlow), JsonNode.Parse(await server.Http.GetStringAsync("/flows"))));
        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/inject/inj", null)).StatusCode);
    }

    [Fact]
    public async Task Inject_sends_to_the_live_debug_stream()
    {
        await using var server = await FlowServerInstance.StartAsync();
        await server.DeployAsync(SampleFlow);
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{server.BaseAddress.Authority}/comms"), CancellationToken.None);
        await socket.SendAsync(Encoding.UTF8.GetBytes("{\"subscribe\":\"debug\"}"), WebSocketMessageType.Text, true, CancellationToken.None);
        await Task.Delay(100); // let the subscription land before the message is produced

        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/inject/inj", null)).StatusCode);
        var frame = await ReceiveAsync(socket);
        var item = Assert.Single(JsonNode.Parse(frame)!.AsArray())!;
        Assert.Equal("debug", item["topic"]!.GetValue<string>());
        Assert.Equal("dbg", item["data"]!["id"]!.GetValue<string>());
        Assert.Equal("line1/tick", item["data"]!["topic"]!.GetValue<string>());
        Assert.Equal("{\"v\":42}", item["data"]!["msg"]!.GetValue<string>());
        Assert.Equal("Object", item["data"]!["format"]!.GetValue<string>()); // Node-RED's label for an object

        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.PostAsync("/inject/nope", null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await server.Http.PostAsync("/inject/dbg", null)).StatusCode);
    }

    [Fact]
    public async Task Single_flow_routes_read_add_replace_and_delete_a_tab()
    {
        await using var server = await FlowServerInstance.StartAsync();
        await server.DeployAsync(SampleFlow);

        var tab = JsonNode.Parse(await server.Http.GetStringAsync("/flow/t1"))!;
        Assert.Equal("Line 1", tab["label"]!.GetValue<string>());
        Assert.Equal(2, tab["nodes"]!.AsArray().Count);

        var added = await server.Http.PostAsync("/flow", new StringContent("""{"label":"Line 2","nodes":[{"id":"c9","type":"comment","name":"hello","x":1,"y":2,"wires":[]}],"configs":[]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, added.StatusCode);
        var newId = JsonNode.Parse(await added.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
        var newTab = JsonNode.Parse(await server.Http.GetStringAsync($"/flow/{newId}"))!;
        Assert.Equal("Line 2", newTab["label"]!.GetValue<string>());
        Assert.Equal("c9", newTab["nodes"]![0]!["id"]!.GetValue<string>());

        var put = await server.Http.PutAsync($"/flow/{newId}", new StringContent("""{"label":"Line 2b","nodes":[],"configs":[]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("Line 2b", JsonNode.Parse(await server.Http.GetStringAsync($"/flow/{newId}"))!["label"]!.GetValue<string>());
        // Ids are compared whole: generated ids are hex and may contain "c9" by chance.
        var ids = JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray().Select(n => n!["id"]!.GetValue<string>());
        Assert.DoesNotContain("c9", ids);

        Assert.Equal(HttpStatusCode.NoContent, (await server.Http.DeleteAsync($"/flow/{newId}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync($"/flow/{newId}")).StatusCode);
        Assert.Equal(3, JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray().Count);

        var global = JsonNode.Parse(await server.Http.GetStringAsync("/flow/global"))!;
        Assert.Empty(global["configs"]!.AsArray());
    }

    [Fact]
    public async Task Put_flow_global_replaces_the_config_nodes_and_keeps_the_tabs()
    {
        await using var server = await FlowServerInstance.StartAsync();
        var withOldConfig = JsonNode.Parse(SampleFlow)!.AsArray();
        withOldConfig.Add(JsonNode.Parse("""{"id":"b-old","type":"mqtt-broker","name":"old","broker":"127.0.0.1","port":"1883"}"""));
        await server.DeployAsync(withOldConfig.ToJsonString());

        var body = """{"id":"global","configs":[{"id":"b-new","type":"mqtt-broker","name":"new","broker":"127.0.0.1","port":"1884","credentials":{"user":"u","password":"secret"}}],"subflows":[]}""";
        var put = await server.Http.PutAsync("/flow/global", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("global", JsonNode.Parse(await put.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
        var configs = JsonNode.Parse(await server.Http.GetStringAsync("/flow/global"))!["configs"]!.AsArray();
        Assert.Equal(["b-new"], configs.Select(c => c!["id"]!.GetValue<string>()));
        Assert.Null(configs[0]!["credentials"]);
        Assert.True(JsonNode.Parse(await server.Http.GetStringAsync("/credentials/mqtt-broker/b-new"))!["has_password"]!.GetValue<bool>());
        var flows = JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray();
        Assert.Equal(["t1", "inj", "dbg", "b-new"], flows.Select(n => n!["id"]!.GetValue<string>()));
        Assert.Equal(2, JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray().Count);

        var invalid = await server.Http.PutAsync("/flow/global", new StringContent("""{"id":"global","configs":[{"id":"x","type":"nope"}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("unknown node type 'nope'", await invalid.Content.ReadAsStringAsync());
        Assert.Equal(4, JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray().Count);
    }

    [Fact]
    public async Task Revisions_are_listed_and_an_old_one_can_be_restored()
    {
        await using var server = await FlowServerInstance.StartAsync();
        await server.DeployAsync(SampleFlow);
        await server.DeployAsync(SampleFlow.Replace("\"tick\"", "\"second\""));

        var revisions = JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray();
        Assert.Equal(2, revisions.Count);
        var oldest = revisions[^1]!["id"]!.GetValue<long>();

        var restore = await server.Http.PostAsync($"/api/revisions/{oldest}/restore", null);
        Assert.Equal(HttpStatusCode.OK, restore.StatusCode);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(SampleFlow), JsonNode.Parse(await server.Http.GetStringAsync("/flows"))));
        Assert.Equal(3, JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray().Count);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.PostAsync("/api/revisions/999/restore", null)).StatusCode);
    }

    [Fact]
    public async Task Reload_restarts_the_stored_flows_ignores_the_body_and_stores_no_revision()
    {
        await using var server = await FlowServerInstance.StartAsync();
        await server.DeployAsync(SampleFlow);
        var runtime = server.Services.GetRequiredService<FlowRuntime>();

        foreach (var body in new[] { "", "{}", "not json at all", """[{"id":"x","type":"nope"}]""" })
        {
            var before = runtime.Find("dbg")!.Node;
            var reload = await server.DeployAsync(body, type: "reload");
            Assert.Equal(HttpStatusCode.NoContent, reload.StatusCode);
            Assert.NotSame(before, runtime.Find("dbg")!.Node);
        }
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(SampleFlow), JsonNode.Parse(await server.Http.GetStringAsync("/flows"))));
        Assert.Single(JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray());

        // v2: a stale rev in the body is ignored too; the answer is the current revision.
        var current = JsonNode.Parse(await (await server.DeployAsync("[]", v2: true)).Content.ReadAsStringAsync())!["rev"]!.GetValue<string>();
        var v2 = await server.DeployAsync("""{"flows":[],"rev":"stale"}""", type: "reload", v2: true);
        Assert.Equal(HttpStatusCode.OK, v2.StatusCode);
        Assert.Equal(current, JsonNode.Parse(await v2.Content.ReadAsStringAsync())!["rev"]!.GetValue<string>());
        Assert.Equal(2, JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray().Count);
    }

    [Fact]
    public async Task Validate_compiles_without_deploying()
    {
        await using var server = await FlowServerInstance.StartAsync();
        var ok = await server.Http.PostAsync("/api/validate", new StringContent(SampleFlow, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var bad = await server.Http.PostAsync("/api/validate", new StringContent("""[{"id":"a","type":"nope","name":"Mystery"}]""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var body = JsonNode.Parse(await bad.Content.ReadAsStringAsync())!;
        Assert.Equal("invalid_flow", body["code"]!.GetValue<string>());
        var error = Assert.Single(body["errors"]!.AsArray())!;
        Assert.Equal(("a", "nope", "Mystery", "type"), (error["id"]!.GetValue<string>(), error["type"]!.GetValue<string>(), error["name"]!.GetValue<string>(), error["field"]!.GetValue<string>()));
        Assert.Equal("nope 'Mystery' (a): type unknown node type 'nope'", error["text"]!.GetValue<string>());
        Assert.Empty(JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray());
        Assert.Equal("[]", await server.Http.GetStringAsync("/flows"));
    }

    [Fact]
    public async Task Catalog_settings_health_and_metrics_are_served()
    {
        await using var server = await FlowServerInstance.StartAsync();
        await server.DeployAsync(SampleFlow);

        var nodes = JsonNode.Parse(await server.Http.GetStringAsync("/nodes"))!.AsArray();
        var inject = nodes.Single(n => n!["type"]!.GetValue<string>() == "inject")!;
        Assert.Equal(0, inject["inputs"]!.GetValue<int>());
        Assert.Contains(inject["properties"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "repeat");
        Assert.False(string.IsNullOrWhiteSpace(inject["help"]!.GetValue<string>()));
        var broker = nodes.Single(n => n!["type"]!.GetValue<string>() == "mqtt-broker")!;
        Assert.True(broker["isConfig"]!.GetValue<bool>());
        Assert.Contains(broker["credentials"]!.AsArray(), c => c!["name"]!.GetValue<string>() == "password" && c["secret"]!.GetValue<bool>());

        Assert.Equal("/", JsonNode.Parse(await server.Http.GetStringAsync("/settings"))!["httpNodeRoot"]!.GetValue<string>());
        Assert.Equal("ok", JsonNode.Parse(await server.Http.GetStringAsync("/healthz"))!["status"]!.GetValue<string>());

        await server.Http.PostAsync("/inject/inj", null);
        await Task.Delay(200);
        var metrics = await server.Http.GetStringAsync("/metrics");
        Assert.Contains("flowserver_node_messages_in_total{node=\"dbg\",type=\"debug\",flow=\"t1\"} 1", metrics);
    }

    [Fact]
    public async Task Metrics_include_the_process_and_its_garbage_collections()
    {
        await using var server = await FlowServerInstance.StartAsync();
        double Value(string metrics, string name) => double.Parse(
            metrics.Split('\n').Single(line => line.StartsWith(name + " ", StringComparison.Ordinal))[(name.Length + 1)..], CultureInfo.InvariantCulture);

        double Collections(string metrics) =>
            Enumerable.Range(0, GC.MaxGeneration + 1).Sum(g => Value(metrics, $"dotnet_gc_collections_total{{generation=\"{g}\"}}"));

        var before = await server.Http.GetStringAsync("/metrics");
        GC.Collect(0, GCCollectionMode.Forced, blocking: true); // the test host and the server share a process
        var countBefore = GC.CollectionCount(0); // every collection, of any generation, counts here
        var after = await server.Http.GetStringAsync("/metrics");
        var countAfter = GC.CollectionCount(0);

        // Each collection once, under the generation it collected (the GC may take a gen0 request
        // further, and tests running beside this one collect too).
        Assert.InRange(Collections(after), countBefore, countAfter);
        Assert.True(Collections(after) > Collections(before));
        Assert.True(Value(after, "dotnet_gc_allocated_bytes_total") > Value(before, "dotnet_gc_allocated_bytes_total"));
        Assert.True(Value(after, "process_resident_memory_bytes") > 10 << 20);
        Assert.True(Value(after, "process_cpu_seconds_total") > 0);
        Assert.True(Value(after, "dotnet_gc_pause_seconds_total") >= Value(before, "dotnet_gc_pause_seconds_total"));
        Assert.Contains("# TYPE dotnet_gc_collections_total counter\n", after);
    }

    [Fact]
    public async Task Metrics_count_the_messages_a_dropping_node_drops()
    {
        // Without inline runs the sends below only queue, so the busy function keeps its inbox full.
        await using var server = await FlowServerInstance.StartAsync(o => o.RunInline = false);
        await server.DeployAsync("""
        [{"id":"t1","type":"tab"},
         {"id":"busy","type":"function","z":"t1","func":"var until = Date.now() + 500; while (Date.now() < until) {} return msg;","queueSize":1,"queueOverflow":"drop-newest","wires":[]}]
        """);
        var runtime = server.Services.GetRequiredService<FlowRuntime>();
        for (var i = 0; i < 5; i++) await runtime.DeliverAsync("busy", FlowServer.Nodes.Sdk.FlowMessage.WithPayload((double)i));

        var dropped = runtime.Find("busy")!.Dropped;
        Assert.InRange(dropped, 3, 4); // one in hand (or not yet taken), one queued, the rest dropped
        var metrics = await server.Http.GetStringAsync("/metrics");
        Assert.Contains($"flowserver_node_dropped_total{{node=\"busy\",type=\"function\",flow=\"t1\"}} {dropped}\n", metrics);
    }

    static async Task<string> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var result = await socket.ReceiveAsync(buffer, timeout.Token);
        return Encoding.UTF8.GetString(buffer, 0, result.Count);
    }
}
