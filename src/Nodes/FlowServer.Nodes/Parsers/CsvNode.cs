using System.Text;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Parsers;

public sealed class CsvOptions : NodeOptions
{
    [Property("temp", Label = "Columns", Help = "Comma-separated column names; empty for col1, col2, … or the header row")]
    public string Temp { get; set; } = "";

    [Property("sep", Label = "Separator", Help = "Field separator (\\t for tab)")]
    public string Sep { get; set; } = ",";

    [Property("quo", Editor = PropertyEditor.Hidden, Help = "Quote character")]
    public string Quo { get; set; } = "\"";

    [Property("ret", Editor = PropertyEditor.Select, Choices = ["\\n", "\\r", "\\r\\n", "\\n\\r"], Label = "Newline", Help = "Line ending of generated CSV")]
    public string Ret { get; set; } = "\\n";

    [Property("skip", Editor = PropertyEditor.Number, Min = 0, Label = "Skip first lines")]
    public int Skip { get; set; }

    [Property("hdrin", Editor = PropertyEditor.Checkbox, Label = "First row contains column names")]
    public bool HeaderIn { get; set; }

    [Property("hdrout", Editor = PropertyEditor.Select, Help = "none, all (header on every message) or once (until msg.reset)")]
    public string HeaderOut { get; set; } = "none";

    [Property("multi", Editor = PropertyEditor.Select, Choices = ["one", "mult"], Label = "Output", Help = "one: a message per row; mult: one message with an array of rows")]
    public string Multi { get; set; } = "one";

    [Property("strings", Editor = PropertyEditor.Checkbox, Label = "Parse numerical values")]
    public bool Strings { get; set; } = true;

    [Property("include_empty_strings", Editor = PropertyEditor.Checkbox, Label = "Include empty strings")]
    public bool IncludeEmptyStrings { get; set; }

    [Property("include_null_values", Editor = PropertyEditor.Checkbox, Label = "Include null values")]
    public bool IncludeNullValues { get; set; }

    [Property("spec", Editor = PropertyEditor.Hidden, Help = "Node-RED's parser choice (rfc or legacy); this runtime always follows RFC 4180")]
    public string Spec { get; set; } = "rfc";

    [JsonIgnore] public string Separator { get; private set; } = ",";
    [JsonIgnore] public char Quote { get; private set; } = '"';
    [JsonIgnore] public string LineEnd { get; private set; } = "\n";
    [JsonIgnore] public string HeaderMode { get; private set; } = "none";
    [JsonIgnore] public List<string> Template { get; private set; } = [];

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        Separator = string.IsNullOrEmpty(Sep) ? "," : Sequence.MessageParts.Unescape(Sep);
        LineEnd = string.IsNullOrEmpty(Ret) ? "\n" : Sequence.MessageParts.Unescape(Ret);
        if (Quo.Length > 1) errors.Add(new OptionError("quo", $"must be a single character, got '{Quo}'"));
        else if (Quo.Length == 1) Quote = Quo[0];
        // Old flows wrote hdrout as a boolean.
        HeaderMode = HeaderOut switch
        {
            "" or "none" or "false" => "none",
            "all" or "true" => "all",
            "once" => "once",
            _ => "",
        };
        if (HeaderMode == "") errors.Add(new OptionError("hdrout", $"must be one of none, all, once, got '{HeaderOut}'"));
        Template = CsvNode.ColumnNames(Temp, ",", '"');
        return errors;
    }
}

[NodeType("csv", Category = "parser", Color = "#DEBD5C", Icon = "parser-csv",
    Help = """
    Converts between CSV text and objects (RFC 4180 quoting).

    ### Inputs
    : payload (string | object | array) : CSV text to parse, or an object, an array of objects
      or an array of arrays to write as CSV.
    : columns (string) : optional comma-separated column order for writing, when *temp* is empty.
    : reset : when present, the header is sent again (hdrout `once`).

    ### Outputs
    : payload (object | array | string) : one object per row (*multi* `one`, with `msg.parts`
      so the rows can be joined), all rows in an array (`mult`), or CSV text.
    : columns (string) : the column names, comma-separated.

    ### Details
    Parsing: the first *skip* lines are ignored; with *hdrin* the next row names the columns,
    otherwise *temp* does, or `col1`, `col2`, …. Numbers are parsed when *strings* is set.
    An empty field is left out unless *include_null_values* (unquoted: null) or
    *include_empty_strings* (`""`: empty string) asks for it; blank lines are skipped. Fields in
    quotes may hold separators, newlines and doubled quotes. Messages that carry `msg.parts`
    (a file read line by line) keep the header found in the first line for the later lines.

    Writing: columns come from *temp*, `msg.columns` or the keys of the first object; values
    with the separator, a quote or a newline are quoted. *hdrout* adds a header row on every
    message (`all`) or on the first one until `msg.reset` (`once`). Each row ends with *ret*.
    """)]
public sealed partial class CsvNode : FlowNode<CsvOptions>, IRunsInline
{
    bool _headerSent;
    List<string>? _streamHeader; // header of a sequence fed line by line
    readonly List<object?> _store = []; // rows of a line-by-line sequence in "mult" mode

    [GeneratedRegex(@"^-?(?![eE])(?!0\d)\d*\.?\d*([eE][-+]?)?\d+$")]
    private static partial Regex NumberPattern();

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message.Properties.ContainsKey("reset"))
        {
            _headerSent = false;
            _streamHeader = null;
            _store.Clear();
        }
        if (!message.Properties.TryGetValue("payload", out var payload)) return;
        switch (payload)
        {
            case string text: await ParseAsync(message, text, cancellationToken); break;
            case List<object?> or Dictionary<string, object?>: await WriteAsync(message, payload, cancellationToken); break;
            default: throw new FlowNodeException($"csv expects a string to parse or an object or array to write, got {MessageValue.TypeName(payload)}");
        }
    }

    // ---- CSV text → objects ----

    async Task ParseAsync(FlowMessage message, string text, CancellationToken token)
    {
        var options = Options;
        var records = Tokenize(text, options.Separator, options.Quote, out var unterminated);
        if (unterminated) Context.Warn("Bad CSV: a quoted field is not closed");

        var parts = message["parts"] as Dictionary<string, object?>;
        var position = parts is null ? 0 : Sequence.MessageParts.AsIndex(parts.GetValueOrDefault("index")) ?? 0;
        var continuing = parts is not null && position > options.Skip;
        var skip = continuing ? 0 : Math.Max(0, options.Skip - position);
        var columns = options.Template;
        if (continuing && _streamHeader is not null) columns = _streamHeader;

        var rows = new List<Dictionary<string, object?>>();
        var headerPending = options.HeaderIn && !continuing;
        foreach (var record in records)
        {
            if (skip > 0) { skip--; continue; }
            if (headerPending)
            {
                columns = record.Select(f => f.Text.Trim()).ToList();
                if (parts is not null) _streamHeader = columns;
                headerPending = false;
                continue;
            }
            if (record.Count == 1 && record[0] is { Text: "", Quoted: false }) continue; // blank line
            var row = new Dictionary<string, object?>();
            for (var i = 0; i < record.Count; i++)
            {
                var name = options.Template.Count == 0 && !options.HeaderIn ? $"col{i + 1}" : i < columns.Count ? columns[i] : "";
                if (name.Length == 0) continue;
                var (value, include) = Convert(record[i]);
                if (include) row[name] = value;
            }
            if (row.Count > 0) rows.Add(row);
        }
        var names = options.Template.Count == 0 && !options.HeaderIn
            ? Enumerable.Range(1, records.Count == 0 ? 0 : records.Max(r => r.Count)).Select(i => $"col{i}").ToList()
            : columns;
        message["columns"] = JoinColumns(names);

        if (options.Multi == "mult")
        {
            if (parts is not null && !text.Contains('\n') && !text.Contains('\r'))
            {
                // A file read line by line: collect the rows and send them with the last line.
                _store.AddRange(rows);
                var count = Sequence.MessageParts.AsIndex(parts.GetValueOrDefault("count"));
                if (count is null || position + 1 < count) return;
                message.Payload = _store.ToList();
                _store.Clear();
                message.Properties.Remove("parts");
            }
            else message.Payload = rows.Cast<object?>().ToList();
            await Context.SendAsync(0, message, token);
            return;
        }

        for (var i = 0; i < rows.Count; i++)
        {
            var row = i == rows.Count - 1 ? message : message.Clone();
            row.Payload = rows[i];
            if (parts is null)
                row["parts"] = new Dictionary<string, object?> { ["id"] = message.MessageId, ["index"] = (double)i, ["count"] = (double)rows.Count };
            else if (row["parts"] is Dictionary<string, object?> own)
            {
                // Lines consumed by skip and header are not part of the output sequence.
                var consumed = options.Skip + (options.HeaderIn ? 1 : 0);
                own["index"] = (double)Math.Max(0, position - consumed + i);
                if (Sequence.MessageParts.AsIndex(own.GetValueOrDefault("count")) is { } count) own["count"] = (double)Math.Max(0, count - consumed);
            }
            await Context.SendAsync(0, row, token);
        }
    }

    (object? Value, bool Include) Convert((string Text, bool Quoted) field)
    {
        var options = Options;
        if (field.Text.Length == 0)
            return field.Quoted ? ("", options.IncludeEmptyStrings) : (null, options.IncludeNullValues);
        if (options.Strings && NumberPattern().IsMatch(field.Text) &&
            double.TryParse(field.Text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var number))
            return (number, true);
        return (field.Text, true);
    }

    /// <summary>
    /// Splits CSV text into records of fields (RFC 4180): a field that starts with the quote runs
    /// to the next lone quote, a doubled quote inside is one quote, and separators and line
    /// breaks inside quotes are data. \r\n, \n and \r all end a record.
    /// </summary>
    internal static List<List<(string Text, bool Quoted)>> Tokenize(string text, string separator, char quote, out bool unterminated)
    {
        var records = new List<List<(string, bool)>>();
        var record = new List<(string, bool)>();
        var field = new StringBuilder();
        bool quoted = false, inQuotes = false;
        unterminated = false;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (inQuotes)
            {
                if (c == quote)
                {
                    if (i + 1 < text.Length && text[i + 1] == quote) { field.Append(quote); i += 2; continue; }
                    inQuotes = false;
                }
                else field.Append(c);
                i++;
                continue;
            }
            if (c == quote && field.Length == 0 && !quoted) { inQuotes = quoted = true; i++; continue; }
            if (string.CompareOrdinal(text, i, separator, 0, separator.Length) == 0)
            {
                record.Add((field.ToString(), quoted));
                field.Clear();
                quoted = false;
                i += separator.Length;
                continue;
            }
            if (c is '\r' or '\n')
            {
                record.Add((field.ToString(), quoted));
                records.Add(record);
                record = [];
                field.Clear();
                quoted = false;
                i += c == '\r' && i + 1 < text.Length && text[i + 1] == '\n' ? 2 : 1;
                continue;
            }
            field.Append(c); // text after a closing quote, or a quote inside an unquoted field, is kept as is
            i++;
        }
        unterminated = inQuotes;
        if (field.Length > 0 || quoted || record.Count > 0) { record.Add((field.ToString(), quoted)); records.Add(record); }
        return records;
    }

    internal static List<string> ColumnNames(string text, string separator, char quote)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        var records = Tokenize(text.Trim(), separator, quote, out _);
        return records.Count == 0 ? [] : records[0].Select(f => f.Text.Trim()).ToList();
    }

    static string JoinColumns(IEnumerable<string> names) => string.Join(",", names.Select(n => n.Contains(',') ? $"\"{n}\"" : n));

    // ---- objects → CSV text ----

    async Task WriteAsync(FlowMessage message, object payload, CancellationToken token)
    {
        var options = Options;
        var rows = payload switch
        {
            Dictionary<string, object?> map => [map],
            List<object?> list when list.Count > 0 && list.All(item => item is not (List<object?> or Dictionary<string, object?>)) => [list], // an array of scalars is one row
            List<object?> list => list,
            _ => [],
        };
        var columns = options.Template;
        if (columns.Count == 0 && message["columns"] is string given && given.Trim().Length > 0) columns = ColumnNames(given, ",", '"');
        if (columns.Count == 0 && rows.FirstOrDefault() is Dictionary<string, object?> first) columns = first.Keys.ToList();

        var output = new StringBuilder();
        if (options.HeaderMode == "all" || (options.HeaderMode == "once" && !_headerSent))
        {
            output.Append(string.Join(options.Separator, columns.Select(Quote))).Append(options.LineEnd);
            _headerSent = true;
        }
        foreach (var row in rows)
        {
            IEnumerable<object?> values = row switch
            {
                List<object?> cells => cells,
                Dictionary<string, object?> map => columns.Select(c => c.Length == 0 ? null : map.GetValueOrDefault(c)),
                _ => [row],
            };
            output.Append(string.Join(options.Separator, values.Select(v => Quote(v is null ? "" : MessageValue.ToText(v))))).Append(options.LineEnd);
        }
        message.Payload = output.ToString();
        message["columns"] = JoinColumns(columns);
        if (output.Length > 0) await Context.SendAsync(0, message, token);
    }

    string Quote(string value)
    {
        var quote = Options.Quote;
        if (value.Contains(quote)) return quote + value.Replace(quote.ToString(), new string(quote, 2), StringComparison.Ordinal) + quote;
        if (value.Contains(Options.Separator, StringComparison.Ordinal) || value.Contains('\n') || value.Contains('\r')) return quote + value + quote;
        return value;
    }
}
