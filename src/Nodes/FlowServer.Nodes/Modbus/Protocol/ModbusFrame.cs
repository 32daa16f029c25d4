using System.Buffers.Binary;

namespace FlowServer.Nodes.Modbus.Protocol;

/// <summary>
/// One Modbus TCP application data unit: the MBAP header (transaction id, protocol id 0,
/// length, unit id) and the PDU (function code and data).
/// </summary>
public sealed record ModbusFrame(ushort TransactionId, byte UnitId, byte[] Pdu)
{
    public const int HeaderLength = 7;

    public byte Function => Pdu[0];

    /// <summary>The frame as bytes on the wire.</summary>
    public byte[] Encode()
    {
        var bytes = new byte[HeaderLength + Pdu.Length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), 0);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), (ushort)(Pdu.Length + 1));
        bytes[6] = UnitId;
        Pdu.CopyTo(bytes, HeaderLength);
        return bytes;
    }

    /// <summary>
    /// Checks a header and returns the PDU length that follows it. Throws
    /// <see cref="ModbusProtocolException"/> for a foreign protocol id or an impossible length,
    /// since after such a header the stream cannot be resynchronised.
    /// </summary>
    public static int ReadHeader(ReadOnlySpan<byte> header, out ushort transactionId, out byte unitId)
    {
        if (header.Length < HeaderLength) throw new ModbusProtocolException($"MBAP header needs {HeaderLength} bytes, got {header.Length}");
        transactionId = BinaryPrimitives.ReadUInt16BigEndian(header);
        var protocol = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        var length = BinaryPrimitives.ReadUInt16BigEndian(header[4..]);
        unitId = header[6];
        if (protocol != 0) throw new ModbusProtocolException($"protocol id {protocol} is not Modbus (0)");
        if (length < 2 || length > ModbusLimits.MaxPduLength + 1) throw new ModbusProtocolException($"MBAP length {length} is outside 2..{ModbusLimits.MaxPduLength + 1}");
        return length - 1;
    }

    /// <summary>Decodes one complete frame from a buffer that holds exactly one.</summary>
    public static ModbusFrame Decode(ReadOnlySpan<byte> bytes)
    {
        var pduLength = ReadHeader(bytes, out var transactionId, out var unitId);
        if (bytes.Length != HeaderLength + pduLength)
            throw new ModbusProtocolException($"frame has {bytes.Length - HeaderLength} PDU bytes, header says {pduLength}");
        return new ModbusFrame(transactionId, unitId, bytes[HeaderLength..].ToArray());
    }

    /// <summary>
    /// Reads the next frame from a stream. Returns null when the peer closed the connection
    /// cleanly between frames; throws <see cref="ModbusProtocolException"/> for a bad header or
    /// a connection closed in the middle of a frame. <paramref name="started"/>, when given, is
    /// called once the frame's first bytes have arrived (a server uses it to time the frame).
    /// </summary>
    public static async ValueTask<ModbusFrame?> ReadAsync(Stream stream, CancellationToken cancellationToken, Action? started = null)
    {
        var header = new byte[HeaderLength];
        var got = await stream.ReadAsync(header, cancellationToken); // whatever has arrived, at least one byte
        if (got == 0) return null;
        started?.Invoke();
        got += await ReadFullyAsync(stream, header.AsMemory(got), cancellationToken);
        if (got < HeaderLength) throw new ModbusProtocolException($"connection closed inside an MBAP header ({got} of {HeaderLength} bytes)");
        var pduLength = ReadHeader(header, out var transactionId, out var unitId);
        var pdu = new byte[pduLength];
        got = await ReadFullyAsync(stream, pdu, cancellationToken);
        if (got < pduLength) throw new ModbusProtocolException($"connection closed inside a PDU ({got} of {pduLength} bytes)");
        return new ModbusFrame(transactionId, unitId, pdu);
    }

    static async ValueTask<int> ReadFullyAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer[total..], cancellationToken);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
