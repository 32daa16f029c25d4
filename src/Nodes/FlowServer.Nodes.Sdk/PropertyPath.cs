using System.Globalization;
using System.Text;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// A parsed property path such as <c>payload.value</c>, <c>payload["x y"]</c> or
/// <c>payload.items[2].name</c>, as Node-RED's typed inputs write them. Parse once (at deploy),
/// then get, set and delete on message values.
/// </summary>
public sealed class PropertyPath
{
    readonly object[] _segments; // string (key) or int (index)

    PropertyPath(string text, object[] segments) { Text = text; _segments = segments; }

    /// <summary>The path as written.</summary>
    public string Text { get; }

    /// <summary>The segments: string keys and int indices.</summary>
    public IReadOnlyList<object> Segments => _segments;

    /// <summary>Parses a path. Throws <see cref="FormatException"/> naming the position of a syntax error.</summary>
    public static PropertyPath Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new FormatException("the property path is empty");
        var segments = new List<object>();
        var i = 0;
        var current = new StringBuilder();
        void Flush()
        {
            if (current.Length > 0) { segments.Add(current.ToString()); current.Clear(); }
        }
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '.')
            {
                if (current.Length == 0 && (segments.Count == 0 || text[i - 1] == '.')) throw new FormatException($"unexpected '.' at position {i} in '{text}'");
                Flush();
                i++;
            }
            else if (c == '[')
            {
                Flush();
                i++;
                if (i < text.Length && (text[i] == '"' || text[i] == '\''))
                {
                    var quote = text[i++];
                    var key = new StringBuilder();
                    while (i < text.Length && text[i] != quote)
                    {
                        if (text[i] == '\\' && i + 1 < text.Length) i++;
                        key.Append(text[i++]);
                    }
                    if (i >= text.Length) throw new FormatException($"unterminated string in '{text}'");
                    i++;
                    segments.Add(key.ToString());
                }
                else
                {
                    var start = i;
                    while (i < text.Length && char.IsDigit(text[i])) i++;
                    if (start == i) throw new FormatException($"expected an index or a quoted key at position {start} in '{text}'");
                    segments.Add(int.Parse(text.AsSpan(start, i - start), CultureInfo.InvariantCulture));
                }
                if (i >= text.Length || text[i] != ']') throw new FormatException($"expected ']' at position {i} in '{text}'");
                i++;
            }
            else
            {
                current.Append(c);
                i++;
            }
        }
        if (text.EndsWith('.')) throw new FormatException($"the path '{text}' ends with '.'");
        Flush();
        if (segments.Count == 0) throw new FormatException($"the path '{text}' is empty");
        return new PropertyPath(text, segments.ToArray());
    }

    /// <summary>Tries to parse; returns the error text otherwise.</summary>
    public static bool TryParse(string text, out PropertyPath? path, out string? error)
    {
        try { path = Parse(text); error = null; return true; }
        catch (FormatException e) { path = null; error = e.Message; return false; }
    }

    /// <summary>Reads the value at this path under <paramref name="root"/>; false when some segment is missing.</summary>
    public bool TryGet(object? root, out object? value)
    {
        value = root;
        foreach (var segment in _segments)
        {
            if (!TryStep(value, segment, out value)) { value = null; return false; }
        }
        return true;
    }

    /// <summary>The value at this path, or null when absent.</summary>
    public object? Get(object? root) => TryGet(root, out var value) ? value : null;

    /// <summary>The value at this path in a message.</summary>
    public object? Get(FlowMessage message) => Get(message.Properties);

    static bool TryStep(object? container, object segment, out object? value)
    {
        switch (container, segment)
        {
            case (Dictionary<string, object?> map, string key): return map.TryGetValue(key, out value);
            case (Dictionary<string, object?> map, int index): return map.TryGetValue(index.ToString(CultureInfo.InvariantCulture), out value);
            case (List<object?> list, int index) when index < list.Count: value = list[index]; return true;
            case (List<object?> list, string key) when int.TryParse(key, out var index) && index < list.Count: value = list[index]; return true;
            case (List<object?> list, "length"): value = (double)list.Count; return true;
            case (string s, "length"): value = (double)s.Length; return true;
            case (byte[] bytes, int index) when index < bytes.Length: value = (double)bytes[index]; return true;
            default: value = null; return false;
        }
    }

    /// <summary>
    /// Sets the value at this path, creating objects (or arrays, before an index) on the way.
    /// Throws <see cref="InvalidOperationException"/> when a segment runs through a scalar.
    /// </summary>
    public void Set(Dictionary<string, object?> root, object? value)
    {
        object container = root;
        for (var i = 0; i < _segments.Length - 1; i++)
        {
            var next = _segments[i + 1] is int ? (object)new List<object?>() : new Dictionary<string, object?>();
            container = StepOrCreate(container, _segments[i], next);
        }
        Assign(container, _segments[^1], value);
    }

    /// <summary>Sets the value at this path in a message.</summary>
    public void Set(FlowMessage message, object? value) => Set(message.Properties, value);

    object StepOrCreate(object container, object segment, object fresh)
    {
        if (TryStep(container, segment, out var existing) && existing is Dictionary<string, object?> or List<object?>) return existing;
        if (existing is not null && TryStep(container, segment, out _))
            throw new InvalidOperationException($"cannot set '{Text}': '{segment}' holds a {MessageValue.TypeName(existing)}");
        Assign(container, segment, fresh);
        return fresh;
    }

    void Assign(object container, object segment, object? value)
    {
        switch (container, segment)
        {
            case (Dictionary<string, object?> map, string key): map[key] = value; break;
            case (Dictionary<string, object?> map, int index): map[index.ToString(CultureInfo.InvariantCulture)] = value; break;
            case (List<object?> list, int index):
                while (list.Count <= index) list.Add(null);
                list[index] = value;
                break;
            default: throw new InvalidOperationException($"cannot set '{Text}': '{segment}' is not a property of a {MessageValue.TypeName(container)}");
        }
    }

    /// <summary>Removes the property at this path; returns false when it was not there.</summary>
    public bool Delete(Dictionary<string, object?> root)
    {
        object? container = root;
        for (var i = 0; i < _segments.Length - 1; i++)
            if (!TryStep(container, _segments[i], out container)) return false;
        switch (container, _segments[^1])
        {
            case (Dictionary<string, object?> map, string key): return map.Remove(key);
            case (List<object?> list, int index) when index < list.Count: list.RemoveAt(index); return true;
            default: return false;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Text;
}
