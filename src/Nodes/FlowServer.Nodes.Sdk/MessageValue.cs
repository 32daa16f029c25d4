using System.Globalization;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// Helpers over message values: null, bool, double, string, byte[] (a Node-RED Buffer),
/// <c>List&lt;object?&gt;</c> (array) and <c>Dictionary&lt;string, object?&gt;</c> (object).
/// Other numeric types are accepted and treated as numbers.
/// </summary>
public static class MessageValue
{
    /// <summary>Copies a value so that nothing mutable is shared with the original.</summary>
    public static object? DeepClone(object? value) => value switch
    {
        null or string or bool or double or int or long or float or decimal => value,
        byte[] bytes => bytes.ToArray(),
        Dictionary<string, object?> map => CloneMap(map),
        List<object?> list => CloneList(list),
        _ => value,
    };

    static Dictionary<string, object?> CloneMap(Dictionary<string, object?> map)
    {
        var copy = new Dictionary<string, object?>(map.Count);
        foreach (var (key, item) in map) copy[key] = DeepClone(item);
        return copy;
    }

    static List<object?> CloneList(List<object?> list)
    {
        var copy = new List<object?>(list.Count);
        foreach (var item in list) copy.Add(DeepClone(item));
        return copy;
    }

    /// <summary>True for every numeric CLR type a message may hold.</summary>
    public static bool IsNumber(object? value) => value is double or int or long or float or decimal or short or byte or uint or ulong or ushort;

    /// <summary>The value as a double when it is a number, else null (no parsing of strings).</summary>
    public static double? AsNumber(object? value) => value switch
    {
        double d => d,
        int i => i,
        long l => l,
        float f => f,
        decimal m => (double)m,
        short s => s,
        byte b => b,
        uint u => u,
        ulong ul => ul,
        ushort us => us,
        _ => null,
    };

    /// <summary>JavaScript's <c>Number(value)</c>: NaN when the value has no numeric reading.</summary>
    public static double ToNumber(object? value) => value switch
    {
        null => 0,
        bool b => b ? 1 : 0,
        string s when string.IsNullOrWhiteSpace(s) => 0,
        string s => double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : double.NaN,
        _ => AsNumber(value) ?? double.NaN,
    };

    /// <summary>JavaScript's <c>String(value)</c> for scalars, JSON for objects and arrays.</summary>
    public static string ToText(object? value) => value switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
        byte[] bytes => System.Text.Encoding.UTF8.GetString(bytes),
        _ when AsNumber(value) is { } d => FormatNumber(d),
        _ => MessageJson.Serialize(value),
    };

    /// <summary>A number as JavaScript prints it (integers without a decimal point).</summary>
    public static string FormatNumber(double d)
    {
        if (double.IsNaN(d)) return "NaN";
        if (double.IsPositiveInfinity(d)) return "Infinity";
        if (double.IsNegativeInfinity(d)) return "-Infinity";
        if (d == Math.Floor(d) && Math.Abs(d) < 1e21) return d.ToString("0", CultureInfo.InvariantCulture);
        return d.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>JavaScript truthiness.</summary>
    public static bool IsTruthy(object? value) => value switch
    {
        null => false,
        bool b => b,
        string s => s.Length > 0,
        _ when AsNumber(value) is { } d => d != 0 && !double.IsNaN(d),
        _ => true,
    };

    /// <summary>The JavaScript <c>typeof</c>-like name Node-RED uses: string, number, boolean, object, array, buffer, null, undefined.</summary>
    public static string TypeName(object? value, bool present = true) => value switch
    {
        _ when !present => "undefined",
        null => "null",
        string => "string",
        bool => "boolean",
        byte[] => "buffer",
        List<object?> => "array",
        Dictionary<string, object?> => "object",
        _ when IsNumber(value) => "number",
        _ => "object",
    };

    /// <summary>Structural equality of two message values (numbers compared as doubles).</summary>
    public static bool DeepEquals(object? a, object? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (AsNumber(a) is { } x && AsNumber(b) is { } y) return x.Equals(y);
        return (a, b) switch
        {
            (string s, string t) => s == t,
            (bool p, bool q) => p == q,
            (byte[] p, byte[] q) => p.AsSpan().SequenceEqual(q),
            (List<object?> p, List<object?> q) => p.Count == q.Count && p.Zip(q).All(pair => DeepEquals(pair.First, pair.Second)),
            (Dictionary<string, object?> p, Dictionary<string, object?> q) =>
                p.Count == q.Count && p.All(kv => q.TryGetValue(kv.Key, out var other) && DeepEquals(kv.Value, other)),
            _ => false,
        };
    }
}
