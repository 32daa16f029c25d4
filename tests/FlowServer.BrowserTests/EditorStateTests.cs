using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using FlowServer.Editor.Services;
using FlowServer.Editor.State;
using FlowServer.Nodes.Sdk;

namespace FlowServer.BrowserTests;

/// <summary>The editor's state without a browser: what it asks of the backend.</summary>
public sealed class EditorStateTests
{
    [Fact]
    public void Moving_a_node_does_not_revalidate_the_document_but_editing_it_does()
    {
        var backend = new CountingBackend();
        var state = new FlowEditorState(backend);
        state.LoadDeployed();
        var validations = backend.Validations;
        Assert.Equal(["n1"], state.Errors.Keys);

        state.MoveNode("n1", 300, 200);
        state.MoveNode("n1", 320, 220);
        Assert.Equal(validations, backend.Validations);
        Assert.Equal(320, FlowEditorState.Number(state.Find("n1")!, "x"));
        Assert.Equal(["n1"], state.Errors.Keys);
        Assert.True(state.IsChanged("n1"));

        var edited = (JsonObject)state.Find("n1")!.DeepClone();
        edited["name"] = "renamed";
        state.ReplaceNode(edited);
        Assert.Equal(validations + 1, backend.Validations);
    }

    sealed class CountingBackend : IEditorBackend
    {
        public int Validations { get; private set; }
        public IReadOnlyList<NodeDescriptor> Catalog => [];
        public IReadOnlyDictionary<string, NodeStatus> Statuses => new Dictionary<string, NodeStatus>();

        public (JsonArray Flows, string Revision) GetFlows() => (JsonNode.Parse("""
            [{"id":"t1","type":"tab","label":"Flow 1"},{"id":"n1","type":"unknown","z":"t1","x":100,"y":100,"wires":[]}]
            """)!.AsArray(), "1");

        public IReadOnlyList<EditorError> Validate(JsonArray flows)
        {
            Validations++;
            return [new EditorError("n1", "unknown", null, "unknown type", "unknown type")];
        }

        public Task<DeployOutcome> DeployAsync(JsonArray flows, string type, CancellationToken cancellationToken = default) => throw new NotSupportedException();
        public Task<string?> InjectAsync(string nodeId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public async IAsyncEnumerable<EditorEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            yield break;
        }
    }
}
