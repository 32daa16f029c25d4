using FlowServer.Nodes.Database;
using FlowServer.Testing.Fixtures;
using Xunit;

namespace FlowServer.Tests.Database;

public sealed class HistorianBufferTests
{
    static List<HistorianRecord> ReadAll(HistorianBuffer buffer)
    {
        var records = new List<HistorianRecord>();
        while (buffer.Read(records, 1000) > 0) { }
        return records;
    }

    [Fact]
    public void Reading_resumes_after_the_committed_record_when_reopened()
    {
        using var directory = new TempDirectory();
        using (var buffer = HistorianBuffer.Open(directory.Path))
        {
            for (var i = 1; i <= 10; i++) buffer.Append(i, "t", i, i % 2 == 0 ? $"{{\"i\":{i}}}" : null);
            var first = new List<HistorianRecord>();
            buffer.Read(first, 5);
            buffer.Commit(first[^1].Sequence);
        }
        using var reopened = HistorianBuffer.Open(directory.Path);

        var rest = ReadAll(reopened);

        Assert.Equal([6L, 7, 8, 9, 10], rest.Select(r => r.Sequence));
        Assert.Equal(6.0, rest[0].Value);
        Assert.Equal("{\"i\":6}", rest[0].PayloadJson);
        Assert.Equal("t", rest[0].Topic);
        Assert.Equal(5, reopened.Pending);
    }

    [Fact]
    public void A_torn_record_at_the_end_is_cut_off_and_numbering_continues()
    {
        using var directory = new TempDirectory();
        using (var buffer = HistorianBuffer.Open(directory.Path))
            for (var i = 1; i <= 3; i++) buffer.Append(i, "t", i, null);
        var segment = Directory.GetFiles(directory.Path, "*.log").Single();
        File.AppendAllText(segment, "\u0040\0\0\0garbage");
        using var reopened = HistorianBuffer.Open(directory.Path);

        reopened.Append(4, "t", 4, null);

        Assert.Equal([1L, 2, 3, 4], ReadAll(reopened).Select(r => r.Sequence));
    }

    [Fact]
    public void Committed_segments_are_deleted_and_sequence_numbers_never_repeat()
    {
        using var directory = new TempDirectory();
        using (var buffer = HistorianBuffer.Open(directory.Path, segmentBytes: 4096))
        {
            for (var i = 0; i < 1000; i++) buffer.Append(i, "some/topic", i, null);
            Assert.True(Directory.GetFiles(directory.Path, "*.log").Length > 5);
            var all = ReadAll(buffer);
            Assert.Equal(Enumerable.Range(1, 1000).Select(i => (long)i), all.Select(r => r.Sequence));
            buffer.Commit(1000);
            Assert.Single(Directory.GetFiles(directory.Path, "*.log"));
            Assert.Equal(0, buffer.Pending);
        }
        using var reopened = HistorianBuffer.Open(directory.Path, segmentBytes: 4096);

        Assert.Equal(1001, reopened.Append(1, "t", 1, null));
        Assert.Equal([1001L], ReadAll(reopened).Select(r => r.Sequence));
        using var again = HistorianBuffer.Open(directory.Path, segmentBytes: 4096);
        Assert.Equal([1001L], ReadAll(again).Select(r => r.Sequence));
    }

    [Fact]
    public void Rewind_hands_out_uncommitted_records_again()
    {
        using var directory = new TempDirectory();
        using var buffer = HistorianBuffer.Open(directory.Path, segmentBytes: 4096);
        for (var i = 0; i < 300; i++) buffer.Append(i, null, i, null);
        ReadAll(buffer);
        buffer.Commit(100);

        buffer.Rewind(100);

        Assert.Equal(Enumerable.Range(101, 200).Select(i => (long)i), ReadAll(buffer).Select(r => r.Sequence));
    }
}
