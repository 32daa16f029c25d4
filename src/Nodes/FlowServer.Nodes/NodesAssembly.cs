namespace FlowServer.Nodes;

/// <summary>Marker for the assembly that holds the built-in node types (the catalog scans it).</summary>
public static class NodesAssembly;
