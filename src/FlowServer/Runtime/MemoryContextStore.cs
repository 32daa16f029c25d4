using System.Collections.Concurrent;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Runtime;

/// <summary>
/// The in-memory context store (Node-RED's <c>memory</c> store). Keys may be paths: the first
/// segment is the stored key, the rest reaches inside its value.
/// </summary>
public sealed class MemoryContextStore : IContextStore
{
    readonly ConcurrentDictionary<string, object?> _values = new(StringComparer.Ordinal);
    readonly Lock _gate = new();

    public object? Get(string key)
    {
        if (IsPlain(key)) return _values.GetValueOrDefault(key);
        var path = PropertyPath.Parse(key);
        lock (_gate) return path.Get(Snapshot(path));
    }

    public void Set(string key, object? value)
    {
        if (IsPlain(key))
        {
            if (value is null) _values.TryRemove(key, out _);
            else _values[key] = value;
            return;
        }
        var path = PropertyPath.Parse(key);
        lock (_gate)
        {
            var root = Snapshot(path);
            if (value is null) path.Delete(root);
            else path.Set(root, value);
            var top = (string)path.Segments[0];
            if (root.TryGetValue(top, out var updated) && updated is not null) _values[top] = updated;
            else _values.TryRemove(top, out _);
        }
    }

    public IReadOnlyList<string> Keys() => _values.Keys.ToArray();

    Dictionary<string, object?> Snapshot(PropertyPath path)
    {
        var top = path.Segments[0] as string ?? "";
        var root = new Dictionary<string, object?>();
        if (_values.TryGetValue(top, out var value)) root[top] = value;
        return root;
    }

    static bool IsPlain(string key) => key.AsSpan().IndexOfAny(".[") < 0;
}
