using System.Text;
using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Sequence;

public sealed class SplitOptions : NodeOptions
{
    [Property("splt", Label = "Split string/buffer using", Help = "Separator text (\\n, \\t … allowed), a JSON byte array for bin, or a chunk length for len")]
    public string Splt { get; set; } = "\\n";

    [Property("spltType", Editor = PropertyEditor.Select, Choices = ["str", "bin", "len"], Help = "str: text separator, bin: byte separator, len: fixed length chunks")]
    public string SpltType { get; set; } = "str";

    [Property("arraySplt", Editor = PropertyEditor.Number, Min = 1, Label = "Split arrays using fixed length of", Help = "Elements per message when splitting an array")]
    public int ArraySplt { get; set; } = 1;

    [Property("arraySpltType", Editor = PropertyEditor.Hidden, Choices = ["len"])]
    public string ArraySpltType { get; set; } = "len";

    [Property("stream", Editor = PropertyEditor.Checkbox, Label = "Handle as a stream of messages", Help = "Keep the unterminated end of a string or buffer and prepend it to the next message")]
    public bool Stream { get; set; }

    [Property("addname", Label = "Copy key to msg.", Help = "When splitting an object, the message property that receives each key")]
    public string Addname { get; set; } = "";

    [Property("property", Label = "Split msg.", Help = "The message property to split")]
    public string Property { get; set; } = "payload";

    [JsonIgnore] public string SeparatorText { get; private set; } = "\n";
    [JsonIgnore] public byte[] SeparatorBytes { get; private set; } = [10];
    [JsonIgnore] public int ChunkLength { get; private set; }
    [JsonIgnore] public PropertyPath Target { get; private set; } = PropertyPath.Parse("payload");
    [JsonIgnore] public PropertyPath? KeyTarget { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        switch (SpltType)
        {
            case "len":
                if (!int.TryParse(Splt.Trim(), out var length) || length < 1) errors.Add(new OptionError("splt", $"must be a whole number of at least 1 for length splitting, got '{Splt}'"));
                else ChunkLength = length;
                break;
            case "bin":
                if (MessageParts.ParseBytes(Splt) is { Length: > 0 } bytes)
                {
                    SeparatorBytes = bytes;
                    SeparatorText = Encoding.UTF8.GetString(bytes);
                }
                else errors.Add(new OptionError("splt", $"must be a non-empty JSON array of bytes such as [13,10], got '{Splt}'"));
                break;
            default:
                // Node-RED falls back to a newline when the separator is left empty.
                SeparatorText = MessageParts.Unescape(string.IsNullOrEmpty(Splt) ? "\\n" : Splt);
                SeparatorBytes = Encoding.UTF8.GetBytes(SeparatorText);
                break;
        }
        if (!PropertyPath.TryParse(string.IsNullOrWhiteSpace(Property) ? "payload" : Property, out var target, out var error)) errors.Add(new OptionError("property", error!));
        else Target = target!;
        if (!string.IsNullOrWhiteSpace(Addname))
        {
            if (PropertyPath.TryParse(Addname, out var key, out var keyError)) KeyTarget = key;
            else errors.Add(new OptionError("addname", keyError!));
        }
        return errors;
    }
}

[NodeType("split", Category = "sequence", Color = "#E2D96E", Icon = "split",
    Help = """
    Splits a message into a sequence of messages.

    ### Inputs
    : payload (object | string | array | buffer) : what to split (or the configured property).

    ### Outputs
    : payload : one piece of the original value.
    : parts (object) : how the piece fits into the sequence: `id` (shared by all pieces),
      `index`, `count`, `type` (string, array, object, buffer), `ch` (the separator),
      `key` (for objects) and `len` (for fixed-length splitting).

    ### Details
    - **String / Buffer**: split at a separator (`str`, with `\n` style escapes, or `bin`, a
      JSON byte array), or into chunks of fixed length (`len`).
    - **Array**: split into single elements, or into sub-arrays of *arraySplt* elements.
    - **Object**: one message per key; the key is in `msg.parts.key` and, when *addname* is
      set, in that message property.

    An existing `msg.parts` is kept in `msg.parts.parts`, so nested splits can be joined back.
    With *stream*, the text after the last separator (or an incomplete chunk) is held back and
    put before the next message's value; `parts.count` is then not set and `parts.index` keeps
    counting across messages. Messages whose value is a number, boolean or null, or that lack
    the property, are dropped.
    """)]
public sealed class SplitNode : FlowNode<SplitOptions>, IRunsInline
{
    // Stream mode state: the held-back tail and the running index.
    string _textRemainder = "";
    byte[] _bytesRemainder = [];
    int _streamIndex;

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var options = Options;
        if (!options.Target.TryGet(message.Properties, out var value)) return;

        var parts = new Dictionary<string, object?>();
        if (message.Properties.TryGetValue("parts", out var outer)) parts["parts"] = outer;
        parts["id"] = MessageParts.NewId();
        // Tells join (auto mode) which property to rebuild, as Node-RED does.
        if (!string.IsNullOrWhiteSpace(options.Property) && options.Property != "payload") parts["property"] = options.Property;
        message.Properties.Remove("_msgid");
        message.Properties.Remove("parts");
        // The template must not carry the (possibly large) value into every clone.
        options.Target.Set(message, null);

        switch (value)
        {
            case string text: await SplitTextAsync(message, parts, text, cancellationToken); break;
            case List<object?> list: await SplitArrayAsync(message, parts, list, cancellationToken); break;
            case Dictionary<string, object?> map: await SplitObjectAsync(message, parts, map, cancellationToken); break;
            case byte[] bytes: await SplitBytesAsync(message, parts, bytes, cancellationToken); break;
            default: break; // numbers, booleans and null are dropped, as Node-RED does
        }
    }

    ValueTask SendPieceAsync(FlowMessage template, Dictionary<string, object?> parts, object? piece, int index, int? count, CancellationToken token, string? key = null)
    {
        var message = template.Clone(); // the template has no _msgid, so each piece gets its own
        Options.Target.Set(message, piece);
        var copy = (Dictionary<string, object?>)MessageValue.DeepClone(parts)!;
        copy["index"] = (double)index;
        if (count is { } c) copy["count"] = (double)c;
        if (key is not null)
        {
            copy["key"] = key;
            Options.KeyTarget?.Set(message, key);
        }
        message["parts"] = copy;
        return Context.SendAsync(0, message, token);
    }

    async Task SplitTextAsync(FlowMessage template, Dictionary<string, object?> parts, string text, CancellationToken token)
    {
        var options = Options;
        text = _textRemainder + text;
        _textRemainder = "";
        parts["type"] = "string";
        if (options.SpltType == "len")
        {
            parts["ch"] = "";
            parts["len"] = (double)options.ChunkLength;
            var chunks = new List<string>();
            for (var pos = 0; pos < text.Length; pos += options.ChunkLength)
                chunks.Add(text.Substring(pos, Math.Min(options.ChunkLength, text.Length - pos)));
            if (chunks.Count == 0) chunks.Add("");
            await SendChunksAsync(template, parts, chunks, options.ChunkLength, c => c.Length, tail => _textRemainder = tail, token);
            return;
        }
        parts["ch"] = options.SpltType == "bin" ? ByteList(options.SeparatorBytes) : options.SeparatorText;
        var pieces = text.Split(options.SeparatorText);
        await SendSeparatedAsync(template, parts, pieces, tail => _textRemainder = tail, token);
    }

    async Task SplitBytesAsync(FlowMessage template, Dictionary<string, object?> parts, byte[] bytes, CancellationToken token)
    {
        var options = Options;
        if (_bytesRemainder.Length > 0) bytes = [.. _bytesRemainder, .. bytes];
        _bytesRemainder = [];
        parts["type"] = "buffer";
        if (options.SpltType == "len")
        {
            parts["len"] = (double)options.ChunkLength;
            var chunks = new List<byte[]>();
            for (var pos = 0; pos < bytes.Length; pos += options.ChunkLength)
                chunks.Add(bytes.AsSpan(pos, Math.Min(options.ChunkLength, bytes.Length - pos)).ToArray());
            if (chunks.Count == 0) chunks.Add([]);
            await SendChunksAsync(template, parts, chunks, options.ChunkLength, c => c.Length, tail => _bytesRemainder = tail, token);
            return;
        }
        parts["ch"] = options.SpltType == "bin" ? ByteList(options.SeparatorBytes) : options.SeparatorText;
        var pieces = new List<byte[]>();
        var span = bytes.AsSpan();
        var start = 0;
        while (true)
        {
            var at = span[start..].IndexOf(options.SeparatorBytes);
            if (at < 0) break;
            pieces.Add(span.Slice(start, at).ToArray());
            start += at + options.SeparatorBytes.Length;
        }
        pieces.Add(span[start..].ToArray());
        await SendSeparatedAsync(template, parts, pieces, tail => _bytesRemainder = tail, token);
    }

    // Separated pieces: in stream mode the last piece is the unterminated tail and is held back.
    async Task SendSeparatedAsync<T>(FlowMessage template, Dictionary<string, object?> parts, IReadOnlyList<T> pieces, Action<T> keepTail, CancellationToken token)
    {
        if (!Options.Stream)
        {
            for (var i = 0; i < pieces.Count; i++) await SendPieceAsync(template, parts, pieces[i], i, pieces.Count, token);
            return;
        }
        for (var i = 0; i < pieces.Count - 1; i++) await SendPieceAsync(template, parts, pieces[i], _streamIndex++, null, token);
        keepTail(pieces[^1]);
    }

    // Fixed-length chunks: in stream mode a short last chunk waits for more data.
    async Task SendChunksAsync<T>(FlowMessage template, Dictionary<string, object?> parts, IReadOnlyList<T> chunks, int length, Func<T, int> sizeOf, Action<T> keepTail, CancellationToken token)
    {
        if (!Options.Stream)
        {
            for (var i = 0; i < chunks.Count; i++) await SendPieceAsync(template, parts, chunks[i], i, chunks.Count, token);
            return;
        }
        var last = chunks.Count - 1;
        for (var i = 0; i < last; i++) await SendPieceAsync(template, parts, chunks[i], _streamIndex++, null, token);
        if (sizeOf(chunks[last]) == length) await SendPieceAsync(template, parts, chunks[last], _streamIndex++, null, token);
        else keepTail(chunks[last]);
    }

    async Task SplitArrayAsync(FlowMessage template, Dictionary<string, object?> parts, List<object?> list, CancellationToken token)
    {
        var size = Options.ArraySplt;
        var count = (list.Count + size - 1) / size;
        parts["type"] = "array";
        parts["len"] = (double)size;
        for (var i = 0; i < count; i++)
        {
            object? piece = size == 1 ? list[i] : list.GetRange(i * size, Math.Min(size, list.Count - i * size));
            await SendPieceAsync(template, parts, piece, i, count, token);
        }
    }

    async Task SplitObjectAsync(FlowMessage template, Dictionary<string, object?> parts, Dictionary<string, object?> map, CancellationToken token)
    {
        parts["type"] = "object";
        var index = 0;
        foreach (var (key, item) in map)
            await SendPieceAsync(template, parts, item, index++, map.Count, token, key);
    }

    static List<object?> ByteList(byte[] bytes) => bytes.Select(b => (object?)(double)b).ToList();
}
