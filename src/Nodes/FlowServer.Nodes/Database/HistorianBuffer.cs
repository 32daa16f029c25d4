using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace FlowServer.Nodes.Database;

/// <summary>One message as the historian stores it; <see cref="Sequence"/> is assigned by the buffer.</summary>
public readonly record struct HistorianRecord(long Sequence, long TimeMicroseconds, string? Topic, double? Value, string? PayloadJson);

/// <summary>
/// The historian's durable buffer: an append-only log of records in segment files under one
/// directory, read in order by a single writer and trimmed once a sequence number is committed
/// to the database. Sequence numbers never repeat within a stream (a directory), which is what
/// makes the database-side offset check exact.
/// </summary>
/// <remarks>
/// Files: <c>stream.id</c> (a GUID naming this log in the database's offset table),
/// <c>committed</c> (last sequence known written, 8 bytes), and <c>{first sequence:D20}.log</c>
/// segments of records <c>[int32 length][int64 sequence][int64 time µs][flags][topic][value][payload]</c>.
/// A torn record at the end of the last segment (a crash mid-write) is cut off on open.
/// Thread-safe: one lock guards everything (appends are short; reads take a batch at a time).
/// </remarks>
public sealed class HistorianBuffer : IDisposable
{
    const int HeaderBytes = 8 + 8 + 1;
    const byte HasTopic = 1, HasValue = 2, HasPayload = 4;

    readonly Lock _lock = new();
    readonly string _directory;
    readonly long _segmentBytes;
    readonly List<(long First, string Path)> _segments = [];
    readonly ArrayBufferWriter<byte> _scratch = new(256);
    FileStream? _writer;
    long _writerLength;
    long _closedSegmentsBytes;
    FileStream? _reader;
    long _readerSegmentFirst = -1;
    long _nextToRead;
    long _syncedThrough; // last sequence fsynced
    bool _disposed;

    HistorianBuffer(string directory, long segmentBytes)
    {
        _directory = directory;
        _segmentBytes = segmentBytes;
    }

    /// <summary>Names this log in the database (a new directory is a new stream).</summary>
    public Guid StreamId { get; private set; }
    /// <summary>Sequence of the last appended record (0 when none ever was).</summary>
    public long LastSequence { get; private set; }
    /// <summary>Sequence of the last record known to be in the database.</summary>
    public long Committed { get; private set; }
    /// <summary>Records appended and not yet committed.</summary>
    public long Pending { get { lock (_lock) return LastSequence - Committed; } }
    /// <summary>Bytes of segment files on disk (committed records in a partly committed segment included).</summary>
    public long Bytes { get { lock (_lock) return _closedSegmentsBytes + _writerLength; } }
    /// <summary>Records appended but not yet handed out by <see cref="Read"/>.</summary>
    public long Unread { get { lock (_lock) return LastSequence - _nextToRead + 1; } }

    /// <summary>Opens (or creates) the log in <paramref name="directory"/>, repairing a torn tail.</summary>
    public static HistorianBuffer Open(string directory, long segmentBytes = 16 << 20)
    {
        Directory.CreateDirectory(directory);
        var buffer = new HistorianBuffer(directory, Math.Max(4096, segmentBytes));
        buffer.Load();
        return buffer;
    }

    void Load()
    {
        var idFile = Path.Combine(_directory, "stream.id");
        if (File.Exists(idFile) && Guid.TryParse(File.ReadAllText(idFile).Trim(), out var id)) StreamId = id;
        else
        {
            StreamId = Guid.NewGuid();
            WriteAtomically(idFile, Encoding.ASCII.GetBytes(StreamId.ToString()));
        }
        var committedFile = Path.Combine(_directory, "committed");
        if (File.Exists(committedFile) && File.ReadAllBytes(committedFile) is { Length: 8 } raw) Committed = BinaryPrimitives.ReadInt64LittleEndian(raw);

        foreach (var file in Directory.GetFiles(_directory, "*.log"))
            if (long.TryParse(Path.GetFileNameWithoutExtension(file), out var first)) _segments.Add((first, file));
        _segments.Sort((a, b) => a.First.CompareTo(b.First));

        LastSequence = Committed;
        var appendToLast = false;
        if (_segments.Count > 0)
        {
            var (first, path) = _segments[^1];
            var (last, validLength) = Scan(path, first);
            using (var file = new FileStream(path, FileMode.Open, FileAccess.Write)) if (file.Length != validLength) file.SetLength(validLength);
            LastSequence = Math.Max(Committed, last);
            // Appending must continue the segment's numbering; after a gap the next record starts a new segment.
            appendToLast = last == LastSequence;
        }
        for (var i = 0; i < _segments.Count - (appendToLast ? 1 : 0); i++) _closedSegmentsBytes += new FileInfo(_segments[i].Path).Length;
        if (appendToLast)
        {
            _writer = OpenWriter(_segments[^1].Path);
            _writerLength = _writer.Length;
        }
        TrimCommitted();
        _nextToRead = Committed + 1;
    }

    // Reads a segment to its last whole record: (last sequence, length up to its end).
    static (long Last, long Length) Scan(string path, long first)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        var expected = first;
        long end = 0;
        while (TryReadRecord(stream, expected, out _)) { expected++; end = stream.Position; }
        return (expected - 1, end);
    }

    /// <summary>
    /// Appends a record and returns its sequence number. It reaches the OS (and so survives a
    /// process kill) with the next <see cref="Flush"/> or <see cref="Read"/>; the caller flushes
    /// before it treats the record as taken.
    /// </summary>
    public long Append(long timeMicroseconds, string? topic, double? value, string? payloadJson)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var sequence = LastSequence + 1;
            _scratch.ResetWrittenCount();
            Encode(_scratch, sequence, timeMicroseconds, topic, value, payloadJson);
            if (_writer is null || _writerLength + _scratch.WrittenCount > _segmentBytes && _writerLength > 0) Roll(sequence);
            _writer!.Write(_scratch.WrittenSpan);
            _writerLength += _scratch.WrittenCount;
            LastSequence = sequence;
            return sequence;
        }
    }

    void Roll(long first)
    {
        if (_writer is not null)
        {
            _writer.Flush(flushToDisk: true);
            _writer.Dispose();
            _closedSegmentsBytes += _writerLength;
        }
        var path = Path.Combine(_directory, $"{first:D20}.log");
        _segments.Add((first, path));
        _writer = OpenWriter(path);
        _writerLength = 0;
    }

    static FileStream OpenWriter(string path)
    {
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        stream.Seek(0, SeekOrigin.End);
        return stream;
    }

    static void Encode(ArrayBufferWriter<byte> output, long sequence, long time, string? topic, double? value, string? payload)
    {
        var topicBytes = topic is null ? 0 : Encoding.UTF8.GetByteCount(topic);
        var payloadBytes = payload is null ? 0 : Encoding.UTF8.GetByteCount(payload);
        var body = HeaderBytes + (topic is null ? 0 : 4 + topicBytes) + (value is null ? 0 : 8) + (payload is null ? 0 : 4 + payloadBytes);
        var span = output.GetSpan(4 + body)[..(4 + body)];
        BinaryPrimitives.WriteInt32LittleEndian(span, body);
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], time);
        span[20] = (byte)((topic is null ? 0 : HasTopic) | (value is null ? 0 : HasValue) | (payload is null ? 0 : HasPayload));
        var at = 21;
        if (topic is not null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], topicBytes);
            at += 4 + Encoding.UTF8.GetBytes(topic, span[(at + 4)..]);
        }
        if (value is { } number)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(span[at..], number);
            at += 8;
        }
        if (payload is not null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], payloadBytes);
            Encoding.UTF8.GetBytes(payload, span[(at + 4)..]);
        }
        output.Advance(4 + body);
    }

    // Reads one record; false at the end of the file or at anything that is not the expected next record.
    static bool TryReadRecord(Stream stream, long expected, out HistorianRecord record)
    {
        record = default;
        Span<byte> lengthBytes = stackalloc byte[4];
        if (stream.ReadAtLeast(lengthBytes, 4, throwOnEndOfStream: false) < 4) return false;
        var length = BinaryPrimitives.ReadInt32LittleEndian(lengthBytes);
        if (length < HeaderBytes || length > 64 << 20) return false;
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var body = rented.AsSpan(0, length);
            if (stream.ReadAtLeast(body, length, throwOnEndOfStream: false) < length) return false;
            var sequence = BinaryPrimitives.ReadInt64LittleEndian(body);
            if (sequence != expected) return false;
            var time = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
            var flags = body[16];
            var at = HeaderBytes;
            string? topic = null, payload = null;
            double? value = null;
            if ((flags & HasTopic) != 0)
            {
                var n = BinaryPrimitives.ReadInt32LittleEndian(body[at..]);
                if (n < 0 || at + 4 + n > length) return false;
                topic = Encoding.UTF8.GetString(body.Slice(at + 4, n));
                at += 4 + n;
            }
            if ((flags & HasValue) != 0)
            {
                if (at + 8 > length) return false;
                value = BinaryPrimitives.ReadDoubleLittleEndian(body[at..]);
                at += 8;
            }
            if ((flags & HasPayload) != 0)
            {
                var n = BinaryPrimitives.ReadInt32LittleEndian(body[at..]);
                if (n < 0 || at + 4 + n > length) return false;
                payload = Encoding.UTF8.GetString(body.Slice(at + 4, n));
            }
            record = new HistorianRecord(sequence, time, topic, value, payload);
            return true;
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    /// <summary>
    /// Hands out up to <paramref name="max"/> records after the last one handed out, in order.
    /// Records at or below <see cref="Committed"/> are skipped.
    /// </summary>
    public int Read(List<HistorianRecord> into, int max)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_nextToRead <= Committed) Rewind(Committed);
            if (_nextToRead > LastSequence || max <= 0) return 0;
            _writer?.Flush(flushToDisk: false); // the reader is another handle: it sees only what reached the OS
            var count = 0;
            while (count < max && _nextToRead <= LastSequence)
            {
                if (_reader is null || !TryReadRecord(_reader, _nextToRead, out var record))
                {
                    // End of a segment (or none open yet): continue in the segment that starts here.
                    if (!OpenReaderAt(_nextToRead)) throw new InvalidDataException($"historian buffer {_directory}: record {_nextToRead} is missing");
                    if (!TryReadRecord(_reader!, _nextToRead, out record)) throw new InvalidDataException($"historian buffer {_directory}: record {_nextToRead} is unreadable");
                }
                into.Add(record);
                _nextToRead++;
                count++;
            }
            return count;
        }
    }

    // Positions the reader on the record with sequence `sequence` (scanning from its segment's start).
    bool OpenReaderAt(long sequence)
    {
        var index = _segments.FindLastIndex(s => s.First <= sequence);
        if (index < 0) return false;
        var (first, path) = _segments[index];
        if (_readerSegmentFirst == first && _reader is not null && sequence != first) return false; // already there and the record is not
        _reader?.Dispose();
        _reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        _readerSegmentFirst = first;
        for (var skip = first; skip < sequence; skip++)
            if (!TryReadRecord(_reader, skip, out _)) return false;
        return true;
    }

    /// <summary>Makes the next <see cref="Read"/> start right after <paramref name="sequence"/> (records handed out but not committed are read again).</summary>
    public void Rewind(long sequence)
    {
        lock (_lock)
        {
            _reader?.Dispose();
            _reader = null;
            _readerSegmentFirst = -1;
            _nextToRead = Math.Max(sequence, Committed) + 1;
            if (_nextToRead <= LastSequence && !OpenReaderAt(_nextToRead))
                throw new InvalidDataException($"historian buffer {_directory}: record {_nextToRead} is missing");
        }
    }

    /// <summary>Records that everything up to <paramref name="sequence"/> is in the database; drops whole segments below it.</summary>
    public void Commit(long sequence)
    {
        lock (_lock)
        {
            if (sequence <= Committed) return;
            Committed = Math.Min(sequence, LastSequence);
            var raw = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(raw, Committed);
            WriteAtomically(Path.Combine(_directory, "committed"), raw);
            TrimCommitted();
        }
    }

    // Deletes segments whose every record is committed, except the one being written.
    void TrimCommitted()
    {
        while (_segments.Count > 1 && _segments[1].First - 1 <= Committed)
        {
            var (first, path) = _segments[0];
            if (_readerSegmentFirst == first) { _reader?.Dispose(); _reader = null; _readerSegmentFirst = -1; }
            try { _closedSegmentsBytes -= new FileInfo(path).Length; File.Delete(path); }
            catch (IOException) { }
            _segments.RemoveAt(0);
        }
        if (_closedSegmentsBytes < 0) _closedSegmentsBytes = 0;
    }

    /// <summary>
    /// Pushes appended records to the OS, so a killed process loses none of them; with
    /// <paramref name="toDisk"/> also to the disk (fsync, against a power loss), and only when
    /// something was appended since the last time.
    /// </summary>
    public void Flush(bool toDisk = false)
    {
        lock (_lock)
        {
            if (_disposed || _writer is null) return;
            if (!toDisk) { _writer.Flush(flushToDisk: false); return; }
            if (_syncedThrough == LastSequence) return;
            _writer.Flush(flushToDisk: true);
            _syncedThrough = LastSequence;
        }
    }

    static void WriteAtomically(string path, byte[] content)
    {
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, content);
        File.Move(temp, path, overwrite: true);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _writer?.Flush(flushToDisk: true);
            _writer?.Dispose();
            _reader?.Dispose();
        }
    }
}
