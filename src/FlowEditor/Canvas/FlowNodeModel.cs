using Blazor.Diagrams.Core.Geometry;
using Blazor.Diagrams.Core.Models;
using Blazor.Diagrams.Core.Models.Base;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Editor.Canvas;

/// <summary>A flow node on the canvas: one input port on the left, its output ports on the right.</summary>
public sealed class FlowNodeModel : NodeModel
{
    public const double Height = 30;
    public const double PortSpacing = 16;

    public FlowNodeModel(string nodeId, string type, NodeDescriptor? descriptor, string label, int inputs, int outputs, Point position)
        : base(nodeId, position)
    {
        NodeId = nodeId;
        Type = type;
        Descriptor = descriptor;
        Label = label;
        if (inputs > 0) Input = (FlowPortModel)AddPort(new FlowPortModel(this, true, 0));
        for (var i = 0; i < outputs; i++) Outputs.Add((FlowPortModel)AddPort(new FlowPortModel(this, false, i)));
    }

    public string NodeId { get; }
    public string Type { get; }
    public NodeDescriptor? Descriptor { get; }
    public string Label { get; set; }
    public FlowPortModel? Input { get; }
    public List<FlowPortModel> Outputs { get; } = [];
    public bool Invalid { get; set; }
    public string? ErrorText { get; set; }
    public bool ChangedSinceDeploy { get; set; }
    public bool Disabled { get; set; }
    public bool? DebugActive { get; set; }
    public NodeStatus? Status { get; set; }

    /// <summary>Raised by the node's own buttons (inject, debug toggle).</summary>
    public Action<FlowNodeModel, string>? Command { get; set; }

    public double Width => WidthFor(Label);
    public double BoxHeight => Math.Max(Height, Outputs.Count * PortSpacing + 6);

    /// <summary>Node-RED stores a node's centre; the diagram its top-left corner.</summary>
    public static double WidthFor(string label) => Math.Max(100, 36 + label.Length * 8.0);
}

/// <summary>A port: inputs accept links from outputs of other nodes only.</summary>
public sealed class FlowPortModel(FlowNodeModel parent, bool isInput, int index)
    : PortModel(parent, isInput ? PortAlignment.Left : PortAlignment.Right)
{
    public bool IsInput { get; } = isInput;
    public int Index { get; } = index;
    public FlowNodeModel Node { get; } = parent;

    public override bool CanAttachTo(ILinkable other) =>
        other is FlowPortModel port && port.IsInput != IsInput && port.Node != Node;
}
