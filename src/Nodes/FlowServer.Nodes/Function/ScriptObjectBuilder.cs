using System.Runtime.InteropServices;
using Jint;
using Jint.Native;

namespace FlowServer.Nodes.Function;

/// <summary>
/// Makes the plain objects a function's script gets from the host (the message, what
/// <c>JSON.parse</c> reads) through Jint's hidden classes: objects with the same keys in the same
/// order share one layout, and hold their values in slots.
/// </summary>
/// <remarks>
/// An object filled through <c>FastSetDataProperty</c> keeps a dictionary with a descriptor per
/// property, and every script read of it is a dictionary look-up. Jint's
/// <c>JsObject.CreateFromEntries</c> gives an object that scripts cannot tell from an object
/// literal, in the order given, a repeated key keeping its first place with its last value (as
/// an object literal and <c>JSON.parse</c> do); when a layout cannot be kept (a key like an array
/// index, too many layouts) it silently makes the dictionary kind. The entries of the objects
/// being made wait in one list, outermost first: a nested object is made, and its entries taken
/// away, before its parent's next entry is added. <see cref="JsConverter.FromJs"/> gathers the
/// properties of the objects it reads in the same list, the same way.
/// </remarks>
internal sealed class ScriptObjectBuilder(Engine engine)
{
    readonly List<KeyValuePair<string, JsValue>> _entries = [];

    /// <summary>Where the entries of an object begun now start.</summary>
    public int Begin() => _entries.Count;

    public void Add(string key, JsValue value) => _entries.Add(new(key, value));

    /// <summary>How many entries wait, and one of them (objects begun earlier included).</summary>
    public int Count => _entries.Count;

    public KeyValuePair<string, JsValue> this[int index] => _entries[index];

    /// <summary>The object of the entries added since <paramref name="first"/>.</summary>
    public JsObject Make(int first) => JsObject.CreateFromEntries(engine, CollectionsMarshal.AsSpan(_entries)[first..]);

    /// <summary>Takes away the entries since <paramref name="first"/>: call it in a finally, made or not.</summary>
    public void End(int first) => _entries.RemoveRange(first, _entries.Count - first);
}
