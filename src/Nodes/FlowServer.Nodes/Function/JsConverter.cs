using System.Globalization;
using FlowServer.Nodes.Sdk;
using Jint;
using Jint.Native;
using Jint.Native.Object;
using Jint.Runtime;

namespace FlowServer.Nodes.Function;

/// <summary>
/// Converts message values to JavaScript values of one engine and back, walking the values
/// directly (no JSON text in between). A byte[] becomes a <c>Buffer</c> (a Uint8Array subclass)
/// and any Uint8Array comes back as a byte[].
/// </summary>
internal sealed class JsConverter(Engine engine)
{
    // Deeper than any sane message; stops circular references from looping forever.
    const int MaxDepth = 256;

    readonly ScriptObjectBuilder _objects = new(engine);

    /// <summary>The script's Buffer class; set once the prelude has run.</summary>
    public JsValue? BufferClass { get; set; }

    public JsValue ToJs(object? value, int depth = 0)
    {
        switch (value)
        {
            case null: return JsValue.Null;
            case string s: return new JsString(s);
            case bool b: return b ? JsBoolean.True : JsBoolean.False;
            case double d: return new JsNumber(d);
            case byte[] bytes: return ToBuffer(bytes);
            case Dictionary<string, object?> map:
                {
                    if (depth > MaxDepth) throw TooDeep();
                    var first = _objects.Begin();
                    try
                    {
                        foreach (var (key, item) in map) _objects.Add(key, ToJs(item, depth + 1));
                        return _objects.Make(first);
                    }
                    finally { _objects.End(first); }
                }
            case List<object?> list:
                {
                    if (depth > MaxDepth) throw TooDeep();
                    var items = new JsValue[list.Count];
                    for (var i = 0; i < items.Length; i++) items[i] = ToJs(list[i], depth + 1);
                    return new JsArray(engine, items);
                }
            default:
                if (MessageValue.AsNumber(value) is { } n) return new JsNumber(n);
                return new JsString(MessageValue.ToText(value));
        }
    }

    public JsValue ToBuffer(byte[] bytes)
    {
        var arrayBuffer = engine.Intrinsics.ArrayBuffer.Construct(bytes.ToArray());
        return BufferClass is { } buffer
            ? engine.Construct(buffer, arrayBuffer)
            : engine.Intrinsics.Uint8Array.Construct(bytes);
    }

    /// <summary>
    /// A JavaScript value as a message value. Functions, symbols and undefined properties are
    /// left out (as JSON.stringify does); a Date becomes its ISO text.
    /// </summary>
    public object? FromJs(JsValue value, int depth = 0)
    {
        switch (value.Type)
        {
            case Types.Null or Types.Undefined: return null;
            case Types.Boolean: return value.AsBoolean();
            case Types.Number: return value.AsNumber();
            case Types.String: return value.AsString();
            case Types.BigInt: return MessageValue.ToNumber(value.ToString());
            case Types.Symbol: return null;
        }
        if (depth > MaxDepth) throw TooDeep();
        if (value.IsUint8Array()) return value.AsUint8Array().ToArray();
        if (value.IsArray())
        {
            var array = value.AsArray();
            var length = array.Length;
            var list = new List<object?>((int)Math.Min(length, 1_000_000));
            for (uint i = 0; i < length; i++) list.Add(FromJs(array[i], depth + 1));
            return list;
        }
        if (value.IsDate())
        {
            var date = value.AsDate();
            return date.DateValue is var ms && double.IsNaN(ms) ? null
                : DateTimeOffset.FromUnixTimeMilliseconds((long)ms).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        }
        if (value is ObjectInstance obj)
        {
            if (obj.IsCallable()) return null;
            // The properties are gathered first so that the dictionary is made at its size: one
            // grown from empty allocated its arrays two or three times per object, a tenth of all
            // that the bench's function flow allocated. They wait with the entries ToJs uses, and
            // a conversion started anew in the middle (a getter's script calling node.send or
            // context.get) gathers behind them and takes only its own away again.
            var first = _objects.Begin();
            try
            {
                // The keys, then each one's descriptor. For an object with a hidden class (the
                // message, JSON.parse's objects, object literals) the keys are strings Jint keeps
                // with the class, where GetOwnProperties makes a new string per key, and an array
                // and an iterator per object. The order is JavaScript's (Object.keys, JSON.stringify,
                // Node-RED): integer-like keys first, ascending, then the others as they were added.
                foreach (var key in obj.GetOwnPropertyKeys(Types.String))
                {
                    var descriptor = obj.GetOwnProperty(key);
                    if (!descriptor.Enumerable) continue;
                    var item = descriptor.IsDataDescriptor() ? descriptor.Value : obj.Get(key);
                    if (item.IsUndefined() || item.IsCallable()) continue;
                    _objects.Add(key.AsString(), item);
                }
                var end = _objects.Count;
                var map = new Dictionary<string, object?>(end - first);
                for (var i = first; i < end; i++) map[_objects[i].Key] = FromJs(_objects[i].Value, depth + 1);
                return map;
            }
            finally { _objects.End(first); }
        }
        return null;
    }

    /// <summary>A JS error (or anything thrown) as the text Node-RED shows: <c>TypeError: message</c>.</summary>
    public static string ErrorText(JsValue error)
    {
        if (error is ObjectInstance obj && !obj.IsArray())
        {
            var message = obj.Get("message");
            if (!message.IsUndefined())
            {
                var name = obj.Get("name");
                var text = message.ToString();
                return name.IsString() && name.AsString() is var n && n != "Error" ? $"{n}: {text}" : text;
            }
        }
        return error.IsUndefined() ? "undefined" : error.ToString();
    }

    static JavaScriptException TooDeep() => new("the value is nested too deeply or refers to itself");
}
