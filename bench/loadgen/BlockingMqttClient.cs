using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

/// <summary>
/// The load generator's own MQTT 3.1.1 client: blocking sockets and a receive thread of its own.
/// At a fixed rate (QoS 0) it sends each message in one send right after stamping it, and stamps
/// each output the moment the kernel hands it over: measured with tcpdump (bench/README.md,
/// 2026-12-02 evening), MQTTnet's asynchronous client put ~1.3 ms of its own thread-pool wake-ups
/// into every engine's p99 at 1,000 msg/s. At maximum rate (<see cref="PublishAll"/>) it writes
/// publishes in batches and acknowledges a QoS 1 read in one send: the generator shares the two
/// cores with broker and engine, and through MQTTnet it took more of them per message than either
/// (bench/README.md, 2026-12-06 night).
/// </summary>
sealed class BlockingMqttClient : IDisposable
{
    readonly Socket _socket;
    readonly Lock _sendGate = new();
    Thread? _receiver;
    // QoS 1 publishes not yet acknowledged may not exceed the window PublishAll was given.
    AckWindow? _window;

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

    /// <summary>Subscribes at QoS 0 or 1 (2 is not spoken here) and waits for the SUBACK; call before <see cref="StartReceiving"/>.</summary>
    public void Subscribe(string filter, int qos = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(qos, 1);
        var body = new List<byte> { 0, 1 }; // packet identifier 1
        AddString(body, Encoding.UTF8.GetBytes(filter));
        body.Add((byte)qos);
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
    /// time <paramref name="clock"/> read right after the socket read that brought it. QoS 1
    /// publishes are acknowledged after the read's messages were handed over, in one send; PUBACKs
    /// for <see cref="PublishAll"/>'s publishes open its window again.
    /// </summary>
    public void StartReceiving(Func<long> clock, Action<ReadOnlyMemory<byte>, long> onMessage)
    {
        _receiver = new Thread(() =>
        {
            var buffer = new byte[1 << 20];
            var acks = new List<byte>();
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
                        var body = buffer.AsMemory(start + header, length);
                        if (type == 3) // PUBLISH: topic, the packet identifier at QoS 1 (the most subscribed), then the payload
                        {
                            var qos = (buffer[start] >> 1) & 3;
                            var at = 2 + BinaryPrimitives.ReadUInt16BigEndian(body.Span);
                            if (qos > 0)
                            {
                                acks.AddRange([0x40, 2, body.Span[at], body.Span[at + 1]]); // PUBACK
                                at += 2;
                            }
                            onMessage(body[at..], stamp);
                        }
                        else if (type == 4) _window?.Acknowledged(); // PUBACK of one of ours
                        start += header + length;
                    }
                    if (start == end) start = end = 0;
                    if (acks.Count > 0)
                    {
                        var packets = acks.ToArray();
                        acks.Clear();
                        lock (_sendGate) _socket.Send(packets);
                    }
                }
            }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
        }) { IsBackground = true, Name = "loadgen receive" };
        _receiver.Start();
    }

    /// <summary>
    /// Publishes <paramref name="count"/> messages as fast as the connection takes them: packets
    /// gather in a buffer that goes out in one send when it holds 16 KiB, and at QoS 1 also when
    /// <paramref name="window"/> publishes await their PUBACK (the receive thread, started before,
    /// counts those; a full window reopens a quarter at a time, see <see cref="AckWindow"/>).
    /// <paramref name="writePayload"/> writes message <c>seq</c>'s payload and returns its length;
    /// it runs right before the message is buffered, so a timestamp in it is current.
    /// Returns when every QoS 1 publish was acknowledged.
    /// </summary>
    public void PublishAll(string topic, int qos, int count, int window, Func<int, Span<byte>, int> writePayload)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(qos, 1);
        if (qos > 0) _window = new AckWindow(window);
        var topicBytes = Encoding.UTF8.GetBytes(topic);
        var batch = new byte[64 << 10];
        var used = 0;
        Span<byte> payload = stackalloc byte[512];
        ushort packetId = 0;
        void Flush()
        {
            if (used == 0) return;
            lock (_sendGate) _socket.Send(batch, 0, used, SocketFlags.None);
            used = 0;
        }
        for (var seq = 0; seq < count; seq++)
        {
            if (_window is { } open && !open.TryTake())
            {
                Flush(); // what the broker has not seen yet cannot be acknowledged
                open.Take();
            }
            var length = writePayload(seq, payload);
            var remaining = 2 + topicBytes.Length + (qos > 0 ? 2 : 0) + length;
            if (used + 5 + remaining > batch.Length) Flush();
            batch[used] = (byte)(0x30 | (qos << 1));
            var at = used + 1 + WriteLength(batch.AsSpan(used + 1), remaining);
            BinaryPrimitives.WriteUInt16BigEndian(batch.AsSpan(at), (ushort)topicBytes.Length);
            topicBytes.CopyTo(batch, at + 2);
            at += 2 + topicBytes.Length;
            if (qos > 0)
            {
                packetId = (ushort)(packetId % ushort.MaxValue + 1); // 1..65535; the window keeps ids unique
                BinaryPrimitives.WriteUInt16BigEndian(batch.AsSpan(at), packetId);
                at += 2;
            }
            payload[..length].CopyTo(batch.AsSpan(at));
            used = at + length;
            if (used >= 16 << 10) Flush();
        }
        Flush();
        _window?.WaitForAll();
    }

    /// <summary>
    /// QoS 1 publishes awaiting their PUBACK, at most <paramref name="size"/>. A full window reopens
    /// only once a quarter of it has been acknowledged: reopened at every PUBACK, it woke the
    /// publisher for each one, which then sent one publish per send (with the broker alone that
    /// was 40 % of the generator's QoS 1 CPU; bench/README.md, 2026-12-07).
    /// </summary>
    sealed class AckWindow(int size)
    {
        readonly object _gate = new();
        readonly int _reopenAt = size - Math.Max(1, size / 4);
        int _awaiting;

        public bool TryTake()
        {
            lock (_gate)
            {
                if (_awaiting >= size) return false;
                _awaiting++;
                return true;
            }
        }

        /// <summary>Waits until the window has reopened, then takes a place in it.</summary>
        public void Take()
        {
            lock (_gate)
            {
                while (_awaiting > _reopenAt) Monitor.Wait(_gate);
                _awaiting++;
            }
        }

        public void Acknowledged()
        {
            lock (_gate)
            {
                _awaiting--;
                // Acknowledgements come one by one, so the counts waited for are met exactly.
                if (_awaiting == _reopenAt || _awaiting == 0) Monitor.PulseAll(_gate);
            }
        }

        public void WaitForAll()
        {
            lock (_gate)
                while (_awaiting > 0) Monitor.Wait(_gate);
        }
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
