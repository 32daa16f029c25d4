using System.Text.Json;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

/// <summary>
/// The <c>scope</c> of catch and status nodes as Node-RED writes it: null for every node of the
/// tab, an array of node ids, or "group" (not supported).
/// </summary>
public static class NodeScope
{
    /// <summary>The ids of a scope (null for the whole tab), or an error for the "group" scope.</summary>
    public static IEnumerable<OptionError> Parse(JsonElement? scope, out HashSet<string>? ids)
    {
        ids = null;
        if (scope is { ValueKind: JsonValueKind.Array } array)
            ids = array.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToHashSet();
        else if (scope is { ValueKind: JsonValueKind.String } text && text.GetString() == "group")
            return [new OptionError("scope", "the 'group' scope is not supported yet; list the nodes instead")];
        return [];
    }

    /// <summary>Whether a node is in the scope.</summary>
    public static bool Covers(HashSet<string>? ids, string nodeId) => ids is null || ids.Contains(nodeId);
}
