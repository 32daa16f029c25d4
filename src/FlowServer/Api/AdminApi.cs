using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;
using FlowServer.Storage;

namespace FlowServer.Api;

/// <summary>
/// The admin HTTP API: Node-RED's routes where they overlap (<c>/flows</c>, <c>/flow/:id</c>,
/// <c>/nodes</c>, <c>/inject/:id</c>, <c>/settings</c>, <c>/credentials</c>) and ours beside
/// them under <c>/api</c> (revisions, validation), plus <c>/healthz</c> and <c>/metrics</c>.
/// </summary>
public static class AdminApi
{
    // Relaxed escaping: error texts read as written (quotes, °C), as Node-RED sends them; responses are JSON, never HTML.
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IEndpointRouteBuilder MapFlowApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/flows", (HttpRequest request, FlowService flows) =>
            IsV2(request)
                ? Results.Json(new JsonObject { ["flows"] = flows.Document.ToJsonArray(), ["rev"] = flows.Revision }, Json)
                : Results.Json(flows.Document.ToJsonArray(), Json));

        app.MapPost("/flows", async (HttpRequest request, FlowService flows, CancellationToken cancel) =>
        {
            var type = ParseDeploymentType(request.Headers["Node-RED-Deployment-Type"]);
            if (type is null) return Problem(400, "invalid_deployment_type", "Node-RED-Deployment-Type must be full, flows, nodes or reload");
            // As Node-RED: reload restarts the stored flows and ignores the body (and its rev).
            if (type == DeploymentType.Reload)
            {
                var reloaded = await flows.DeployAsync(FlowDocument.Empty, new Dictionary<string, JsonObject>(), DeploymentType.Reload, null, cancel);
                return IsV2(request) ? Results.Json(new { rev = reloaded }, Json) : Results.NoContent();
            }
            return await DeployAsync(flows, await ReadBodyAsync(request), type.Value, IsV2(request), cancel);
        });

        app.MapGet("/flow/{id}", (string id, FlowService flows) =>
        {
            var document = flows.Document;
            if (id == "global")
                return Results.Json(new JsonObject
                {
                    ["id"] = "global",
                    ["configs"] = new JsonArray(document.Nodes.Where(n => IsConfig(flows, n) && string.IsNullOrEmpty(FlowDocument.Text(n, "z"))).Select(Clone).ToArray()),
                    ["subflows"] = new JsonArray(),
                }, Json);
            var tab = document.Nodes.FirstOrDefault(n => FlowDocument.IdOf(n) == id && FlowDocument.TypeOf(n) == "tab");
            return tab is null ? Problem(404, "not_found", $"flow '{id}' does not exist") : Results.Json(TabView(flows, document, tab), Json);
        });

        app.MapPost("/flow", async (HttpRequest request, FlowService flows, CancellationToken cancel) =>
        {
            if (await ReadObjectAsync(request) is not { } body) return Problem(400, "invalid_request", "the body must be a flow object {label, nodes, configs}");
            var id = FlowMessage.NewMessageId();
            var nodes = new List<JsonObject>(flows.Document.Nodes.Select(n => (JsonObject)n.DeepClone()));
            nodes.AddRange(TabNodes(body, id));
            return await DeployNodesAsync(flows, nodes, body, cancel, () => Results.Json(new { id }, Json));
        });

        app.MapPut("/flow/{id}", async (string id, HttpRequest request, FlowService flows, CancellationToken cancel) =>
        {
            if (id == "global")
            {
                if (await ReadObjectAsync(request) is not { } global) return Problem(400, "invalid_request", "the body must be a global flow object {id, configs, subflows}");
                // As Node-RED: everything outside a tab is replaced by the posted configs (and subflows, which the compiler refuses for now).
                var tabs = flows.Document.Nodes.Where(n => FlowDocument.TypeOf(n) == "tab").Select(FlowDocument.IdOf).ToHashSet();
                var kept = flows.Document.Nodes.Where(n => FlowDocument.TypeOf(n) == "tab" || tabs.Contains(FlowDocument.Text(n, "z"))).Select(n => (JsonObject)n.DeepClone()).ToList();
                kept.AddRange(GlobalNodes(global));
                return await DeployNodesAsync(flows, kept, global, cancel, () => Results.Json(new { id }, Json));
            }
            if (!flows.Document.Nodes.Any(n => FlowDocument.IdOf(n) == id && FlowDocument.TypeOf(n) == "tab")) return Problem(404, "not_found", $"flow '{id}' does not exist");
            if (await ReadObjectAsync(request) is not { } body) return Problem(400, "invalid_request", "the body must be a flow object {id, label, nodes, configs}");
            var nodes = flows.Document.Nodes.Where(n => FlowDocument.IdOf(n) != id && FlowDocument.Text(n, "z") != id).Select(n => (JsonObject)n.DeepClone()).ToList();
            nodes.AddRange(TabNodes(body, id));
            return await DeployNodesAsync(flows, nodes, body, cancel, () => Results.Json(new { id }, Json));
        });

        app.MapDelete("/flow/{id}", async (string id, FlowService flows, CancellationToken cancel) =>
        {
            if (!flows.Document.Nodes.Any(n => FlowDocument.IdOf(n) == id && FlowDocument.TypeOf(n) == "tab")) return Problem(404, "not_found", $"flow '{id}' does not exist");
            var nodes = flows.Document.Nodes.Where(n => FlowDocument.IdOf(n) != id && FlowDocument.Text(n, "z") != id).Select(n => (JsonObject)n.DeepClone()).ToList();
            return await DeployNodesAsync(flows, nodes, null, cancel, Results.NoContent);
        });

        app.MapPost("/inject/{id}", async (string id, FlowRuntime runtime, CancellationToken cancel) =>
        {
            var host = runtime.Find(id);
            if (host is null) return Problem(404, "not_found", $"node '{id}' is not running");
            if (host.Node is not IInjectable injectable) return Problem(400, "invalid_request", $"{host.NodeType} '{id}' cannot be injected");
            await injectable.InjectAsync(cancel);
            return Results.Text("OK");
        });

        app.MapGet("/nodes", (FlowService flows) => Results.Json(flows.Catalog.Types.Select(t => t.Descriptor), Json));

        app.MapGet("/credentials/{type}/{id}", (string type, string id, FlowService flows) =>
        {
            var node = flows.Document.Find(id);
            if (node is null || FlowDocument.TypeOf(node) != type || !flows.Catalog.TryGet(type, out var info)) return Problem(404, "not_found", $"{type} '{id}' does not exist");
            var view = new JsonObject();
            var stored = flows.CredentialsOf(id);
            var secrets = info.Binder.SecretCredentials.ToHashSet();
            foreach (var name in info.Binder.CredentialNames)
            {
                var value = stored?[name];
                if (secrets.Contains(name)) view["has_" + name] = value is not null && value.ToString().Length > 0;
                else if (value is not null) view[name] = value.DeepClone();
            }
            return Results.Json(view, Json);
        });

        app.MapGet("/settings", (FlowService flows, RuntimeOptions options) => Results.Json(new
        {
            httpNodeRoot = "/",
            version = typeof(AdminApi).Assembly.GetName().Version?.ToString(3),
            product = "FlowServer",
            apiVersion = "v2",
            functionTimeout = 0,
            queueCapacity = options.DefaultQueueCapacity,
            context = new { @default = "memory", stores = new[] { "memory" } },
            flowEncoding = "node-red",
        }, Json));

        app.MapGet("/healthz", (FlowService flows, FlowRuntime runtime) =>
        {
            var failed = flows.StartupErrors;
            return Results.Json(new
            {
                status = failed.Count == 0 ? "ok" : "degraded",
                rev = flows.Revision,
                nodes = runtime.Hosts.Count,
                errors = failed.Select(e => e.Text),
            }, Json, statusCode: 200);
        });

        app.MapGet("/api/revisions", async (IFlowStore store, CancellationToken cancel) => Results.Json(await store.ListAsync(100, cancel), Json));

        app.MapPost("/api/revisions/{id:long}/restore", async (long id, FlowService flows, CancellationToken cancel) =>
        {
            try { return Results.Json(new { rev = await flows.RestoreAsync(id, cancel) }, Json); }
            catch (KeyNotFoundException e) { return Problem(404, "not_found", e.Message); }
            catch (FlowDocumentException e) { return Invalid(e); }
        });

        app.MapPost("/api/validate", async (HttpRequest request, FlowService flows) =>
        {
            try
            {
                var document = FlowDocument.Parse(await ReadBodyAsync(request), out var credentials, out _);
                var errors = flows.Validate(document, credentials);
                return errors.Count == 0 ? Results.Json(new { valid = true, errors = Array.Empty<object>() }, Json) : Invalid(new FlowDocumentException(errors));
            }
            catch (FlowDocumentException e) { return Invalid(e); }
        });

        app.MapGet("/metrics", (FlowRuntime runtime, RuntimeEvents events) => Results.Text(Metrics.Render(runtime, events), "text/plain; version=0.0.4"));
        return app;
    }

    static async Task<IResult> DeployAsync(FlowService flows, string body, DeploymentType type, bool v2, CancellationToken cancel)
    {
        try
        {
            var document = FlowDocument.Parse(body, out var credentials, out var revision);
            var rev = await flows.DeployAsync(document, credentials, type, v2 ? revision : null, cancel);
            return v2 ? Results.Json(new { rev }, Json) : Results.NoContent();
        }
        catch (FlowDocumentException e) { return Invalid(e); }
        catch (RevisionMismatchException) { return Problem(409, "version_mismatch", "the flows were changed since you read them; reload and try again"); }
    }

    static async Task<IResult> DeployNodesAsync(FlowService flows, List<JsonObject> nodes, JsonObject? body, CancellationToken cancel, Func<IResult> success)
    {
        try
        {
            var credentials = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
            var document = FlowDocument.FromNode(new JsonArray(nodes.Select(n => (JsonNode)n).ToArray()), out var inline, out _);
            foreach (var (id, value) in inline) credentials[id] = value;
            await flows.DeployAsync(document, credentials, DeploymentType.Flows, null, cancel);
            return success();
        }
        catch (FlowDocumentException e) { return Invalid(e); }
    }

    // A tab object in the single-flow format → flow document entries (the tab itself, its nodes and configs).
    static IEnumerable<JsonObject> TabNodes(JsonObject body, string id)
    {
        var tab = new JsonObject { ["id"] = id, ["type"] = "tab" };
        foreach (var (key, value) in body)
            if (key is not ("id" or "nodes" or "configs" or "subflows")) tab[key] = value?.DeepClone();
        tab["label"] ??= "Flow";
        yield return tab;
        foreach (var key in new[] { "nodes", "configs" })
            if (body[key] is JsonArray items)
                foreach (var item in items.OfType<JsonObject>())
                {
                    var copy = (JsonObject)item.DeepClone();
                    copy["z"] = id;
                    yield return copy;
                }
    }

    // A global flow object in the single-flow format → its config nodes, and its subflows with their members.
    static IEnumerable<JsonObject> GlobalNodes(JsonObject body)
    {
        foreach (var config in (body["configs"] as JsonArray ?? []).OfType<JsonObject>()) yield return (JsonObject)config.DeepClone();
        foreach (var subflow in (body["subflows"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var copy = (JsonObject)subflow.DeepClone();
            foreach (var key in new[] { "nodes", "configs" })
            {
                if (copy[key] is JsonArray members)
                    foreach (var member in members.OfType<JsonObject>()) yield return (JsonObject)member.DeepClone();
                copy.Remove(key);
            }
            yield return copy;
        }
    }

    static JsonObject TabView(FlowService flows, FlowDocument document, JsonObject tab)
    {
        var id = FlowDocument.IdOf(tab)!;
        var view = new JsonObject { ["id"] = id };
        foreach (var (key, value) in tab)
            if (key is not ("id" or "type")) view[key] = value?.DeepClone();
        var members = document.Nodes.Where(n => FlowDocument.Text(n, "z") == id).ToList();
        view["nodes"] = new JsonArray(members.Where(n => !IsConfig(flows, n)).Select(Clone).ToArray());
        view["configs"] = new JsonArray(members.Where(n => IsConfig(flows, n)).Select(Clone).ToArray());
        return view;
    }

    static bool IsConfig(FlowService flows, JsonObject node) =>
        FlowDocument.TypeOf(node) is { } type && flows.Catalog.TryGet(type, out var info) && info.IsConfig;

    static JsonNode Clone(JsonObject node) => node.DeepClone();

    static bool IsV2(HttpRequest request) => string.Equals(request.Headers["Node-RED-API-Version"], "v2", StringComparison.OrdinalIgnoreCase);

    static DeploymentType? ParseDeploymentType(string? header) => (header ?? "full").Trim().ToLowerInvariant() switch
    {
        "" or "full" => DeploymentType.Full,
        "flows" => DeploymentType.Flows,
        "nodes" => DeploymentType.Nodes,
        "reload" => DeploymentType.Reload,
        _ => null,
    };

    static async Task<string> ReadBodyAsync(HttpRequest request)
    {
        using var reader = new StreamReader(request.Body);
        return await reader.ReadToEndAsync();
    }

    static async Task<JsonObject?> ReadObjectAsync(HttpRequest request)
    {
        try { return JsonNode.Parse(await ReadBodyAsync(request)) as JsonObject; }
        catch (JsonException) { return null; }
    }

    static IResult Invalid(FlowDocumentException e) => Results.Json(new
    {
        code = "invalid_flow",
        message = e.Errors.Count == 1 ? e.Errors[0].Text : $"{e.Errors.Count} problems in the flow",
        errors = e.Errors.Select(x => new { id = x.NodeId, type = x.Type, name = x.Name, field = x.Field, message = x.Message, text = x.Text }),
    }, Json, statusCode: 400);

    static IResult Problem(int status, string code, string message) => Results.Json(new { code, message }, Json, statusCode: status);
}
