using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

/// <summary>
/// The load generator's latency client: MQTT 3.1.1, QoS 0 only, blocking sockets, and a receive
/// thread of its own that stamps each message the moment the kernel hands it over. Measured with
/// tcpdump (bench/README.md, 2026-12-02 evening), MQTTnet's asynchronous client put ~1.3 ms of its
/// own thread-pool wake-ups (its send flush before the message left, its receive loop and
/// dispatcher after it arrived) into every engine's p99 at 1,000 msg/s: more than the broker and
/// the engine together. Used for the fixed-rate QoS 0 profile; everything else keeps MQTTnet.
/// </summary>
sealed class BlockingMqttClient : IDisposable
{
    readonly Socket _socket;
    readonly Lock _sendGate = new();
    Thread? _receiver;

    BlockingMqttClient(Socket socket) => _socket = socket;

    public static BlockingMqttClient Connect(string host, int port, string clientId)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveBufferSize = 4 << 20,
            SendBufferSize = 4 << 20,
        };
        socket.Connect(host, port);
        var client = new BlockingMqttClient(socket);
        // CONNECT: protocol "MQTT" level 4, clean session, keep-alive 0 (no pings to answer).
        var id = Encoding.UTF8.GetBytes(clientId);
        var body = new List<byte> { 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, 0x02, 0, 0 };
        AddString(body, id);
        client.SendPacket(0x10, body);
        var connack = client.ReadPacketBlocking();
        if (connack.Type != 2 || connack.Body.Length < 2 || connack.Body[1] != 0)
            throw new IOException($"the broker refused the connection (CONNACK type {connack.Type}, code {(connack.Body.Length > 1 ? connack.Body[1] : -1)})");
        return client;
    }

    /// <summary>Subscribes at QoS 0 and waits for the SUBACK; call before <see cref="StartReceiving"/>.</summary>
    public void Subscribe(string filter)
    {
        var body = new List<byte> { 0, 1 }; // packet identifier 1
        AddString(body, Encoding.UTF8.GetBytes(filter));
        body.Add(0); // QoS 0
        SendPacket(0x82, body);
        var suback = ReadPacketBlocking();
        if (suback.Type != 9 || suback.Body.Length < 3 || suback.Body[2] > 2) throw new IOException("the broker refused the subscription");
    }

    /// <summary>One QoS 0 PUBLISH in one send.</summary>
    public void Publish(string topic, ReadOnlySpan<byte> payload)
    {
        var topicBytes = Encoding.UTF8.GetBytes(topic);
        var packet = NewPacket(0x30, 2 + topicBytes.Length + payload.Length, out var at);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(at), (ushort)topicBytes.Length);
        topicBytes.CopyTo(packet, at + 2);
        payload.CopyTo(packet.AsSpan(at + 2 + topicBytes.Length));
        lock (_sendGate) _socket.Send(packet);
    }

    /// <summary>
    /// Starts the receive thread: <paramref name="onMessage"/> gets each PUBLISH's payload and the
    /// time <paramref name="clock"/> read right after the socket read that brought it.
    /// </summary>
    public void StartReceiving(Func<long> clock, Action<ReadOnlyMemory<byte>, long> onMessage)
    {
        _receiver = new Thread(() =>
        {
            var buffer = new byte[1 << 20];
            int start = 0, end = 0;
            try
            {
                while (true)
                {
                    if (end == buffer.Length)
                    {
                        if (start == 0) Array.Resize(ref buffer, buffer.Length * 2);
                        else { Buffer.BlockCopy(buffer, start, buffer, 0, end - start); end -= start; start = 0; }
                    }
                    var read = _socket.Receive(buffer, end, buffer.Length - end, SocketFlags.None);
                    if (read <= 0) return;
                    var stamp = clock();
                    end += read;
                    while (TryParse(buffer.AsSpan(start, end - start), out var type, out var header, out var length))
                    {
                        if (type == 3) // PUBLISH at QoS 0: topic, then the payload
                        {
                            var body = buffer.AsMemory(start + header, length);
                            var topicLength = BinaryPrimitives.ReadUInt16BigEndian(body.Span);
                            onMessage(body[(2 + topicLength)..], stamp);
                        }
                        start += header + length;
                    }
                    if (start == end) start = end = 0;
                }
            }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
        }) { IsBackground = true, Name = "loadgen receive" };
        _receiver.Start();
    }

    public void Dispose()
    {
        try { lock (_sendGate) _socket.Send([0xE0, 0]); } // DISCONNECT
        catch (SocketException) { }
        _socket.Shutdown(SocketShutdown.Both);
        _socket.Close();
        _receiver?.Join(TimeSpan.FromSeconds(2));
    }

    (int Type, byte[] Body) ReadPacketBlocking()
    {
        var fixedHeader = new byte[5];
        ReadExactly(fixedHeader.AsSpan(0, 1));
        int length = 0, shift = 0, i = 1;
        while (true)
        {
            ReadExactly(fixedHeader.AsSpan(i, 1));
            length |= (fixedHeader[i] & 0x7F) << shift;
            shift += 7;
            if ((fixedHeader[i++] & 0x80) == 0) break;
        }
        var body = new byte[length];
        ReadExactly(body);
        return (fixedHeader[0] >> 4, body);
    }

    void ReadExactly(Span<byte> into)
    {
        while (into.Length > 0)
        {
            var n = _socket.Receive(into);
            if (n <= 0) throw new IOException("the broker closed the connection");
            into = into[n..];
        }
    }

    void SendPacket(byte firstByte, List<byte> body)
    {
        var packet = NewPacket(firstByte, body.Count, out var at);
        body.CopyTo(packet, at);
        lock (_sendGate) _socket.Send(packet);
    }

    // A complete packet at the start of data: its type, fixed-header size and remaining length.
    static bool TryParse(ReadOnlySpan<byte> data, out int type, out int header, out int length)
    {
        type = header = length = 0;
        if (data.Length < 2) return false;
        var shift = 0;
        for (var i = 1; i < Math.Min(data.Length, 5); i++)
        {
            length |= (data[i] & 0x7F) << shift;
            shift += 7;
            if ((data[i] & 0x80) != 0) continue;
            type = data[0] >> 4;
            header = i + 1;
            return data.Length >= header + length;
        }
        return false;
    }

    static void AddString(List<byte> into, byte[] text)
    {
        into.Add((byte)(text.Length >> 8));
        into.Add((byte)text.Length);
        into.AddRange(text);
    }

    // A packet of that type and remaining length with its fixed header written; at: where the rest goes.
    static byte[] NewPacket(byte firstByte, int remaining, out int at)
    {
        var packet = new byte[1 + LengthBytes(remaining) + remaining];
        packet[0] = firstByte;
        at = 1 + WriteLength(packet.AsSpan(1), remaining);
        return packet;
    }

    static int LengthBytes(int length) => length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4;

    static int WriteLength(Span<byte> into, int length)
    {
        var i = 0;
        do
        {
            var b = (byte)(length % 128);
            length /= 128;
            if (length > 0) b |= 0x80;
            into[i++] = b;
        } while (length > 0);
        return i;
    }
}
