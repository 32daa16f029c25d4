using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

/// <summary>
/// The cheapest MQTT 3.1.1 publisher this bench can have, standing in for the PLC gateways that
/// would publish from other machines: PUBLISH packets encoded straight into a send buffer, as
/// many per send as the window allows, PUBACKs counted from one receive loop. On 2 cores shared
/// by publisher, broker, engine and database, every microsecond the publisher spends is taken
/// from the others (MQTTnet's client costs several per publish: a packet object, a task and a
/// PUBACK wait each).
/// </summary>
sealed class RawPublisher : IDisposable
{
    readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
    long _acknowledged;
    readonly SemaphoreSlim _acked = new(0);

    RawPublisher() { }

    public static async Task<RawPublisher> ConnectAsync(int port, string clientId)
    {
        var publisher = new RawPublisher();
        publisher._socket.SendBufferSize = 256 * 1024;
        await publisher._socket.ConnectAsync("127.0.0.1", port);
        var id = Encoding.ASCII.GetBytes(clientId);
        // CONNECT: "MQTT", level 4, clean session, keep-alive 60 s, client id.
        var body = new List<byte> { 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, 0x02, 0, 60, 0, (byte)id.Length };
        body.AddRange(id);
        await publisher._socket.SendAsync(new byte[] { 0x10, (byte)body.Count }.Concat(body).ToArray());
        var connack = new byte[4];
        await publisher.ReceiveExactlyAsync(connack);
        if (connack[0] != 0x20 || connack[3] != 0) throw new InvalidOperationException($"the broker refused the connection (CONNACK return code {connack[3]})");
        return publisher;
    }

    /// <summary>
    /// Publishes <paramref name="count"/> messages, <c>topic(i)</c> / <c>payload(i)</c>, with at most
    /// <paramref name="window"/> unacknowledged at QoS 1. Returns once the broker has taken all of
    /// them: at QoS 1 every PUBACK is in; at QoS 0 a PINGRESP has come back, which the broker sends
    /// only after reading everything before the PINGREQ.
    /// </summary>
    public async Task PublishAsync(int count, int qos, int window, Func<int, string> topic, Func<int, string> payload)
    {
        var reader = Task.Factory.StartNew(ReadAcknowledgements, TaskCreationOptions.LongRunning);
        var buffer = new byte[64 * 1024];
        var sent = 0;
        while (sent < count)
        {
            var length = 0;
            // At QoS 1 as many as the window has room for; a full buffer or the end sends them.
            while (sent < count && length < buffer.Length - 512 && (qos == 0 || sent - Interlocked.Read(ref _acknowledged) < window))
            {
                length += Encode(buffer.AsSpan(length), topic(sent), payload(sent), qos, (ushort)(sent % 65535 + 1));
                sent++;
            }
            if (length > 0) await SendAllAsync(buffer.AsMemory(0, length));
            else await _acked.WaitAsync(); // the window is full: wait for PUBACKs
        }
        if (qos == 0) await SendAllAsync(new byte[] { 0xC0, 0 }); // PINGREQ
        while (qos > 0 && Interlocked.Read(ref _acknowledged) < count) await _acked.WaitAsync();
        await reader;
        await SendAllAsync(new byte[] { 0xE0, 0 }); // DISCONNECT
        _socket.Shutdown(SocketShutdown.Send);

        // PUBACKs (QoS 1) or the PINGRESP (QoS 0), each four or two bytes, read until the last.
        void ReadAcknowledgements()
        {
            var input = new byte[64 * 1024];
            int start = 0, end = 0;
            while (qos == 0 || Interlocked.Read(ref _acknowledged) < count)
            {
                if (end - start < 4)
                {
                    Array.Copy(input, start, input, 0, end - start);
                    (end, start) = (end - start, 0);
                    var read = _socket.Receive(input, end, input.Length - end, SocketFlags.None);
                    if (read == 0) throw new IOException("the broker closed the connection");
                    end += read;
                }
                var acks = 0;
                while (end - start >= 2)
                {
                    if (input[start] == 0xD0) { start += 2; Interlocked.Increment(ref _acknowledged); _acked.Release(); return; } // PINGRESP
                    if (end - start < 4) break;
                    if (input[start] != 0x40) throw new InvalidDataException($"unexpected packet 0x{input[start]:X2} from the broker");
                    start += 4;
                    acks++;
                }
                if (acks > 0)
                {
                    Interlocked.Add(ref _acknowledged, acks);
                    _acked.Release();
                }
            }
        }
    }

    static int Encode(Span<byte> buffer, string topic, string payload, int qos, ushort packetId)
    {
        var remaining = 2 + topic.Length + (qos > 0 ? 2 : 0) + payload.Length;
        var at = 0;
        buffer[at++] = (byte)(0x30 | (qos << 1));
        do // remaining length, 7 bits a byte
        {
            var digit = (byte)(remaining % 128);
            remaining /= 128;
            buffer[at++] = remaining > 0 ? (byte)(digit | 0x80) : digit;
        } while (remaining > 0);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[at..], (ushort)topic.Length);
        at += 2;
        at += Encoding.ASCII.GetBytes(topic, buffer[at..]);
        if (qos > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer[at..], packetId);
            at += 2;
        }
        at += Encoding.ASCII.GetBytes(payload, buffer[at..]);
        return at;
    }

    async Task SendAllAsync(ReadOnlyMemory<byte> data)
    {
        while (data.Length > 0) data = data[await _socket.SendAsync(data)..];
    }

    async Task ReceiveExactlyAsync(byte[] target)
    {
        for (var got = 0; got < target.Length;)
        {
            var read = await _socket.ReceiveAsync(target.AsMemory(got));
            if (read == 0) throw new IOException("the broker closed the connection");
            got += read;
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _acked.Dispose();
    }
}
