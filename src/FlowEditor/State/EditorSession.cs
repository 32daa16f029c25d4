using System.Text.Json.Nodes;
using FlowServer.Editor.Services;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Editor.State;

/// <summary>
/// What one browser session sees besides the flows: selection, the node being edited, the
/// palette drag, the clipboard, live debug messages and node statuses.
/// </summary>
public sealed class EditorSession
{
    /// <summary>Node-RED's debug sidebar keeps the 100 most recent messages.</summary>
    public const int DebugLimit = 100;

    public string? DraggedType { get; set; }
    public IReadOnlyList<string> Selected { get; private set; } = [];
    public string? EditingNodeId { get; set; }
    public List<JsonObject> Clipboard { get; set; } = [];
    public List<DebugEvent> Debug { get; } = [];
    public Dictionary<string, NodeStatus> Statuses { get; } = new(StringComparer.Ordinal);
    public string? Notice { get; private set; }
    public bool NoticeIsError { get; private set; }

    public event Action? Changed;
    /// <summary>Something besides the canvas chose the selection (a debug message's source): the canvas shows it.</summary>
    public event Action? SelectionRequested;
    /// <summary>A node's status changed (its id).</summary>
    public event Action<string>? StatusChanged;

    public void Select(IEnumerable<string> ids)
    {
        Selected = ids.ToList();
        Changed?.Invoke();
    }

    /// <summary>Selects nodes from outside the canvas, which then highlights them.</summary>
    public void Reveal(IEnumerable<string> ids)
    {
        Select(ids);
        SelectionRequested?.Invoke();
    }

    public void AddDebug(DebugEvent message)
    {
        Debug.Add(message);
        if (Debug.Count > DebugLimit) Debug.RemoveRange(0, Debug.Count - DebugLimit);
        Changed?.Invoke();
    }

    public void ClearDebug()
    {
        Debug.Clear();
        Changed?.Invoke();
    }

    public void SetStatus(string nodeId, NodeStatus status)
    {
        if (status == NodeStatus.Clear || (status.Fill is null && status.Text is null)) Statuses.Remove(nodeId);
        else Statuses[nodeId] = status;
        StatusChanged?.Invoke(nodeId);
    }

    public void Notify(string? text, bool error = false)
    {
        (Notice, NoticeIsError) = (text, error);
        Changed?.Invoke();
    }
}
