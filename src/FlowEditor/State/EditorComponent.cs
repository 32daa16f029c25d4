using Microsoft.AspNetCore.Components;

namespace FlowServer.Editor.State;

/// <summary>
/// A component that redraws whenever the flows or the session change. Blazor does not re-render
/// a child without parameters when its parent does, so live parts subscribe themselves.
/// </summary>
public abstract class EditorComponent : ComponentBase, IDisposable
{
    [Inject] protected FlowEditorState State { get; set; } = null!;
    [Inject] protected EditorSession Session { get; set; } = null!;

    protected override void OnInitialized()
    {
        State.Changed += OnStateChanged;
        Session.Changed += OnSessionChanged;
    }

    void OnStateChanged(bool structural) => _ = InvokeAsync(StateHasChanged);
    void OnSessionChanged() => _ = InvokeAsync(StateHasChanged);

    public virtual void Dispose()
    {
        State.Changed -= OnStateChanged;
        Session.Changed -= OnSessionChanged;
        GC.SuppressFinalize(this);
    }
}
