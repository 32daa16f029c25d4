using System.Buffers;
using System.Text.Json;
using Jint;
using Jint.Native;
using Jint.Native.Json;

namespace FlowServer.Nodes.Function;

/// <summary>
/// A function engine's <c>JSON.parse</c> (without a reviver): System.Text.Json's reader walks the
/// text and the Jint values are built as it goes. Any text it does not take as it is (a syntax
/// error, a lone surrogate, a number beyond a double, nesting past <see cref="MaxDepth"/>) goes to
/// Jint's own parser, so every error a script sees, and every result of an odd text, is Jint's.
/// </summary>
/// <remarks>
/// Jint's parser empties two 256-entry interning tables at the start of every parse (12 KB
/// cleared per message in the bench's function flow) and makes a token object per token.
/// JSON.parse makes plain data properties in document order, a repeated key keeping its first
/// place with its last value; <see cref="ScriptObjectBuilder"/> does the same, and "__proto__" stays
/// an own property, as in JSON.parse. One instance per engine (an engine runs one script at a time,
/// and the parse never calls back into the script).
/// </remarks>
internal sealed class ScriptJsonParser(Engine engine)
{
    /// <summary>Deeper documents go to Jint's parser, which has its own limit.</summary>
    const int MaxDepth = 64;

    /// <summary>Texts up to this many characters are transcoded into a buffer the parser keeps; longer ones into a rented one.</summary>
    const int KeptBufferChars = 4096;

    readonly JsonParser _fallback = new(engine);
    readonly ScriptObjectBuilder _objects = new(engine);
    readonly PropertyNames _names = new();
    readonly JsonReaderOptions _options = new() { MaxDepth = MaxDepth };
    byte[]? _utf8; // made at the first parse: most function nodes' scripts never parse JSON

    public JsValue Parse(string text)
    {
        if (TryParse(text, out var value)) return value;
        return _fallback.Parse(text);
    }

    bool TryParse(string text, out JsValue value)
    {
        value = JsValue.Undefined;
        var rented = text.Length > KeptBufferChars ? ArrayPool<byte>.Shared.Rent(text.Length * 3) : null;
        var utf8 = rented ?? (_utf8 ??= new byte[KeptBufferChars * 3]);
        try
        {
            // Strict transcoding: a lone surrogate in the text must not turn into U+FFFD silently.
            if (System.Text.Unicode.Utf8.FromUtf16(text, utf8, out _, out var length, replaceInvalidSequences: false) != OperationStatus.Done)
                return false;
            var reader = new Utf8JsonReader(utf8.AsSpan(0, length), _options);
            if (!reader.Read()) return false;
            if (!TryReadValue(ref reader, out value)) return false;
            return !reader.Read(); // anything after the value is an error, which Jint reports
        }
        catch (JsonException) { return false; }
        catch (InvalidOperationException) { return false; } // an escape that is not valid UTF-16
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented); // the values made hold copies, not the bytes
        }
    }

    bool TryReadValue(ref Utf8JsonReader reader, out JsValue value)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                value = JsString.Create(reader.GetString()!);
                return true;
            case JsonTokenType.Number:
                // Outside a double's range JSON.parse gives ±Infinity; Jint's parser does that.
                if (!reader.TryGetDouble(out var number) || !double.IsFinite(number)) { value = JsValue.Undefined; return false; }
                value = JsNumber.Create(number);
                return true;
            case JsonTokenType.True: value = JsBoolean.True; return true;
            case JsonTokenType.False: value = JsBoolean.False; return true;
            case JsonTokenType.Null: value = JsValue.Null; return true;
            case JsonTokenType.StartObject:
                {
                    value = JsValue.Undefined;
                    var first = _objects.Begin();
                    try
                    {
                        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                        {
                            var key = _names.Read(ref reader);
                            reader.Read();
                            if (!TryReadValue(ref reader, out var item)) return false;
                            _objects.Add(key, item);
                        }
                        if (reader.TokenType != JsonTokenType.EndObject) return false;
                        value = _objects.Make(first);
                        return true;
                    }
                    finally { _objects.End(first); }
                }
            case JsonTokenType.StartArray:
                {
                    var items = new List<JsValue>();
                    value = JsValue.Undefined;
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (!TryReadValue(ref reader, out var item)) return false;
                        items.Add(item);
                    }
                    value = new JsArray(engine, items.ToArray());
                    return true;
                }
            default:
                value = JsValue.Undefined;
                return false;
        }
    }

    /// <summary>
    /// The property names this parser has read, so that a name read again is not made into a new
    /// string: the same names come back in message after message, and in every item of an array.
    /// At most <see cref="MaxNames"/>; a document with more distinct names (an object used as a map)
    /// starts the set anew.
    /// </summary>
    sealed class PropertyNames
    {
        const int MaxNames = 256;
        const int MaxChars = 32;
        readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);
        readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

        public PropertyNames() => _lookup = _names.GetAlternateLookup<ReadOnlySpan<char>>();

        public string Read(ref Utf8JsonReader reader)
        {
            var utf8 = reader.ValueSpan; // the text is one buffer, so never a value sequence
            if (reader.ValueIsEscaped || utf8.Length > MaxChars) return reader.GetString()!;
            Span<char> chars = stackalloc char[MaxChars]; // UTF-8 never has fewer bytes than UTF-16 has chars
            var text = chars[..System.Text.Encoding.UTF8.GetChars(utf8, chars)]; // valid: transcoded strictly from the text
            if (_lookup.TryGetValue(text, out var name)) return name;
            if (_names.Count == MaxNames) _names.Clear();
            name = text.ToString();
            _names.Add(name, name);
            return name;
        }
    }
}
