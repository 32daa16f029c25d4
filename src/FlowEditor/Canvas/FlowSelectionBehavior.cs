using Blazor.Diagrams.Core;
using Blazor.Diagrams.Core.Events;
using Blazor.Diagrams.Core.Geometry;
using Blazor.Diagrams.Core.Models;
using Blazor.Diagrams.Core.Models.Base;

namespace FlowServer.Editor.Canvas;

/// <summary>
/// Node-RED's selection: click selects one node, shift- or ctrl-click adds or removes one, and
/// shift-drag on the empty canvas draws a box that selects every node it touches (a plain drag
/// on the canvas still pans).
/// </summary>
public sealed class FlowSelectionBehavior : Behavior
{
    Point? _start;

    public FlowSelectionBehavior(Diagram diagram) : base(diagram)
    {
        Diagram.PointerDown += OnPointerDown;
        Diagram.PointerMove += OnPointerMove;
        Diagram.PointerUp += OnPointerUp;
    }

    /// <summary>The box being drawn, in client coordinates (null when none).</summary>
    public (Point From, Point To)? Box { get; private set; }

    /// <summary>Raised while the box changes so that the canvas redraws it.</summary>
    public event Action? BoxChanged;

    void OnPointerDown(Model? model, PointerEventArgs e)
    {
        if (e.Button != 0) return;
        var multiple = e.ShiftKey || e.CtrlKey;
        switch (model)
        {
            case null when e.ShiftKey:
                _start = new Point(e.ClientX, e.ClientY);
                break;
            case null:
                Diagram.UnselectAll();
                break;
            case SelectableModel selectable when multiple && selectable.Selected:
                Diagram.UnselectModel(selectable);
                break;
            case SelectableModel selectable when !selectable.Selected:
                Diagram.SelectModel(selectable, !multiple);
                break;
        }
    }

    void OnPointerMove(Model? model, PointerEventArgs e)
    {
        if (_start is null) return;
        Box = (_start, new Point(e.ClientX, e.ClientY));
        BoxChanged?.Invoke();
    }

    void OnPointerUp(Model? model, PointerEventArgs e)
    {
        if (_start is null) return;
        if (Box is var (from, to))
        {
            var a = Diagram.GetRelativeMousePoint(Math.Min(from.X, to.X), Math.Min(from.Y, to.Y));
            var b = Diagram.GetRelativeMousePoint(Math.Max(from.X, to.X), Math.Max(from.Y, to.Y));
            foreach (var node in Diagram.Nodes)
                if (node.GetBounds() is { } r && r.Left < b.X && r.Right > a.X && r.Top < b.Y && r.Bottom > a.Y)
                    Diagram.SelectModel(node, false);
        }
        (_start, Box) = (null, null);
        BoxChanged?.Invoke();
    }

    public override void Dispose()
    {
        Diagram.PointerDown -= OnPointerDown;
        Diagram.PointerMove -= OnPointerMove;
        Diagram.PointerUp -= OnPointerUp;
    }
}
