using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Testing.Fixtures;
using Xunit;

namespace FlowServer.Tests.Modbus;

/// <summary>Encoding and decoding against the examples of the Modbus spec, and malformed input on both sides.</summary>
public sealed class ModbusProtocolTests
{
    [Fact]
    public void Read_request_and_frame_encode_as_the_spec_example()
    {
        var pdu = ModbusPdu.ReadRequest(ModbusFunction.ReadHoldingRegisters, 0x006B, 3);
        var frame = new ModbusFrame(1, 0x11, pdu).Encode();

        Assert.Equal(Convert.FromHexString("03006B0003"), pdu);
        Assert.Equal(Convert.FromHexString("00010000000611" + "03006B0003"), frame);
        var decoded = ModbusFrame.Decode(frame);
        Assert.Equal((ushort)1, decoded.TransactionId);
        Assert.Equal((byte)0x11, decoded.UnitId);
        Assert.Equal(pdu, decoded.Pdu);
    }

    [Fact]
    public void Register_and_bit_responses_decode_as_the_spec_examples()
    {
        Assert.Equal(new ushort[] { 0x022B, 0x0000, 0x0064 },
            ModbusPdu.ParseRegisters(Convert.FromHexString("0306022B00000064"), ModbusFunction.ReadHoldingRegisters, 3));

        // Spec 6.1: coils 20..38 = CD 6B 05, LSB first.
        var bits = ModbusPdu.ParseBits(Convert.FromHexString("0103CD6B05"), ModbusFunction.ReadCoils, 19);
        var expected = new[] { 0xCD, 0x6B, 0x05 }.SelectMany(b => Enumerable.Range(0, 8).Select(i => (b >> i & 1) == 1)).Take(19);
        Assert.Equal(expected, bits);
        Assert.Equal(Convert.FromHexString("CD6B05"), ModbusPdu.PackBits(bits));
    }

    [Fact]
    public void Write_requests_encode_as_the_spec_examples()
    {
        Assert.Equal(Convert.FromHexString("0500ACFF00"), ModbusPdu.WriteSingleCoilRequest(0xAC, true));
        Assert.Equal(Convert.FromHexString("0500AC0000"), ModbusPdu.WriteSingleCoilRequest(0xAC, false));
        Assert.Equal(Convert.FromHexString("0600010003"), ModbusPdu.WriteSingleRegisterRequest(1, 3));
        var coils = new[] { true, false, true, true, false, false, true, true, true, false };
        Assert.Equal(Convert.FromHexString("0F0013000A02CD01"), ModbusPdu.WriteMultipleCoilsRequest(0x13, coils));
        Assert.Equal(Convert.FromHexString("100001000204000A0102"), ModbusPdu.WriteMultipleRegistersRequest(1, [0x000A, 0x0102]));
    }

    [Theory]
    [InlineData(1, "IllegalFunction")]
    [InlineData(2, "IllegalDataAddress")]
    [InlineData(3, "IllegalDataValue")]
    [InlineData(4, "ServerDeviceFailure")]
    [InlineData(6, "ServerDeviceBusy")]
    [InlineData(11, "GatewayTargetDeviceFailedToRespond")]
    [InlineData(99, "Unknown(99)")]
    public void Exception_responses_become_named_errors(byte code, string name)
    {
        var e = Assert.Throws<ModbusException>(() => ModbusPdu.ParseRegisters([0x83, code], ModbusFunction.ReadHoldingRegisters, 1));
        Assert.Equal(name, e.Name);
        Assert.Equal((byte)3, e.Function);
        Assert.Contains(name, e.Message);
    }

    [Theory]
    [InlineData("0001000100061103006B0003", "protocol id")]   // protocol id 1
    [InlineData("000100000000", "MBAP header needs")]          // 6 bytes
    [InlineData("00010000000111", "length 1")]                 // length too small
    [InlineData("00010000FFFF1103", "length 65535")]          // length too large
    [InlineData("000100000006110300", "header says 5")]        // truncated PDU
    public void Malformed_frames_are_rejected(string hex, string fragment)
    {
        var e = Assert.Throws<ModbusProtocolException>(() => ModbusFrame.Decode(Convert.FromHexString(hex)));
        Assert.Contains(fragment, e.Message);
    }

    [Theory]
    [InlineData("030400010002", 3)]     // byte count 4 for 3 registers
    [InlineData("0306000100", 3)]       // truncated data
    [InlineData("03", 1)]               // no byte count
    [InlineData("0402AABB", 1)]         // wrong function
    [InlineData("8302FF", 1)]           // exception response too long
    public void Malformed_register_responses_are_rejected(string hex, int quantity) =>
        Assert.Throws<ModbusProtocolException>(() => ModbusPdu.ParseRegisters(Convert.FromHexString(hex), ModbusFunction.ReadHoldingRegisters, quantity));

    [Fact]
    public void A_write_response_must_echo_the_request()
    {
        var request = ModbusPdu.WriteSingleRegisterRequest(1, 3);
        ModbusPdu.ParseWriteEcho(request.ToArray(), request);
        Assert.Throws<ModbusProtocolException>(() => ModbusPdu.ParseWriteEcho(Convert.FromHexString("0600010004"), request));
        Assert.Throws<ModbusProtocolException>(() => ModbusPdu.ParseWriteEcho(Convert.FromHexString("060001"), request));
    }

    [Fact]
    public void Requests_outside_protocol_limits_are_refused_before_sending()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ModbusPdu.ReadRequest(ModbusFunction.ReadHoldingRegisters, 0, 126));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModbusPdu.ReadRequest(ModbusFunction.ReadCoils, 0, 2001));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModbusPdu.ReadRequest(ModbusFunction.ReadCoils, 65535, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModbusPdu.WriteMultipleRegistersRequest(0, new ushort[124]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ModbusPdu.WriteMultipleCoilsRequest(0, new bool[1969]));
    }

    [Theory]
    [InlineData("2B0E0100", "AB01")]       // unknown function (read device id) → illegal function
    [InlineData("0300000001", "03020007")] // read holding register 0
    [InlineData("0300090002", "8302")]     // 9..10 beyond 10 registers → illegal address
    [InlineData("030000007E", "8303")]     // 126 registers → illegal value
    [InlineData("0300000000", "8303")]     // zero registers
    [InlineData("03000001", "8303")]       // short PDU
    [InlineData("0500011234", "8503")]     // coil value neither FF00 nor 0000
    [InlineData("0F0000000A01FF", "8F03")] // byte count 1 for 10 coils
    [InlineData("100000000204000A", "9003")] // byte count 4, 2 data bytes
    [InlineData("0600000009", "0600000009")]
    public void Server_answers_requests_and_bad_requests_with_the_right_exception(string request, string response)
    {
        var model = new ModbusDataModel(10, 10, 10, 10);
        model.WriteHoldingRegisters(0, [7]);
        var server = new ModbusTcpServer(model, IPAddress.Loopback, 0);
        Assert.Equal(response, Convert.ToHexString(server.Handle(Convert.FromHexString(request), out _)));
    }

    [Fact]
    public async Task Server_drops_a_connection_that_sends_garbage_and_keeps_serving_others()
    {
        var model = new ModbusDataModel(10, 10, 10, 10);
        model.WriteHoldingRegisters(0, [42]);
        await using var server = new ModbusTcpServer(model, IPAddress.Loopback, 0);
        server.Start();

        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(IPAddress.Loopback, server.Port);
            var stream = raw.GetStream();
            await stream.WriteAsync(Convert.FromHexString("474554202F20485454502F312E310D0A0D0A")); // "GET / HTTP/1.1"
            var buffer = new byte[16];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.Equal(0, await stream.ReadAsync(buffer, timeout.Token)); // closed by the server
        }
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(IPAddress.Loopback, server.Port);
            await raw.GetStream().WriteAsync(Convert.FromHexString("0001000000061103")); // header then silence
        }

        await using var client = new ModbusTcpClient(new() { Port = server.Port, Timeout = TimeSpan.FromSeconds(5) });
        Assert.Equal(new ushort[] { 42 }, await client.ReadHoldingRegistersAsync(0, 1));
    }

    /// <summary>Waits until the server closes the connection; returns how long that took from <paramref name="since"/>.</summary>
    static async Task<TimeSpan> ClosedAfterAsync(TcpClient connection, Stopwatch since)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            while (await connection.GetStream().ReadAsync(new byte[16], timeout.Token) > 0) { }
        }
        catch (IOException) { /* reset instead of closed: closed all the same */ }
        return since.Elapsed;
    }

    [Fact]
    public async Task Server_closes_connections_stuck_inside_a_header_or_silent_and_keeps_busy_ones()
    {
        var model = new ModbusDataModel(10, 10, 10, 10);
        model.WriteHoldingRegisters(0, [42]);
        await using var server = new ModbusTcpServer(model, IPAddress.Loopback, 0) { FrameTimeout = TimeSpan.FromMilliseconds(300), IdleTimeout = TimeSpan.FromSeconds(1.5) };
        server.Start();
        var clock = Stopwatch.StartNew();
        using var halfHeader = new TcpClient();
        await halfHeader.ConnectAsync(IPAddress.Loopback, server.Port);
        await halfHeader.GetStream().WriteAsync(Convert.FromHexString("000100000006")); // 6 of the 7 header bytes, then nothing
        using var silent = new TcpClient();
        await silent.ConnectAsync(IPAddress.Loopback, server.Port);
        await using var busy = new ModbusTcpClient(new() { Port = server.Port, Timeout = TimeSpan.FromSeconds(5) });
        var polling = Task.Run(async () =>
        {
            for (var i = 0; i < 8; i++) // 8 × 400 ms: longer than the idle timeout, but never silent that long
            {
                Assert.Equal(new ushort[] { 42 }, await busy.ReadHoldingRegistersAsync(0, 1));
                await Task.Delay(400);
            }
        });

        var half = await ClosedAfterAsync(halfHeader, clock);
        var idle = await ClosedAfterAsync(silent, clock);
        await polling;

        Assert.InRange(half, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1.4)); // the frame timeout, not the idle one
        Assert.True(idle >= TimeSpan.FromSeconds(1.4), $"the silent connection was closed after {idle.TotalMilliseconds:0} ms");
        Assert.Equal(0, busy.Reconnects);
        Assert.Equal(ModbusConnectionState.Connected, busy.State);
        Assert.Equal(1, server.ClientCount);
    }

    [Fact]
    public async Task Client_matches_responses_by_transaction_id_when_they_come_back_out_of_order()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var device = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync();
            var stream = socket.GetStream();
            var first = (await ModbusFrame.ReadAsync(stream, default))!;
            var second = (await ModbusFrame.ReadAsync(stream, default))!;
            foreach (var request in new[] { second, first }) // answer in reverse order
            {
                var address = (ushort)(request.Pdu[1] << 8 | request.Pdu[2]);
                var pdu = ModbusPdu.RegistersResponse(ModbusFunction.ReadHoldingRegisters, [(ushort)(address * 2)]);
                await stream.WriteAsync(new ModbusFrame(request.TransactionId, request.UnitId, pdu).Encode());
            }
            await Task.Delay(500);
        });

        await using var client = new ModbusTcpClient(new() { Port = port, MaxInFlight = 2, Timeout = TimeSpan.FromSeconds(10) });
        var a = client.ReadHoldingRegistersAsync(10, 1);
        var b = client.ReadHoldingRegistersAsync(20, 1);

        Assert.Equal(new ushort[] { 20 }, await a);
        Assert.Equal(new ushort[] { 40 }, await b);
        await device;
    }

    [Fact]
    public async Task Client_rejects_a_malformed_response_and_recovers_on_the_next_connection()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var device = Task.Run(async () =>
        {
            // First connection: a response whose byte count does not match; then a foreign protocol id.
            using (var socket = await listener.AcceptTcpClientAsync())
            {
                var stream = socket.GetStream();
                var request = (await ModbusFrame.ReadAsync(stream, default))!;
                await stream.WriteAsync(new ModbusFrame(request.TransactionId, request.UnitId, Convert.FromHexString("030400")).Encode());
                request = (await ModbusFrame.ReadAsync(stream, default))!;
                await stream.WriteAsync(Convert.FromHexString("00FF00070003110302"));
                await Task.Delay(1000);
            }
            // Second connection: a proper answer.
            using (var socket = await listener.AcceptTcpClientAsync())
            {
                var stream = socket.GetStream();
                var request = (await ModbusFrame.ReadAsync(stream, default))!;
                await stream.WriteAsync(new ModbusFrame(request.TransactionId, request.UnitId, ModbusPdu.RegistersResponse(ModbusFunction.ReadHoldingRegisters, [5])).Encode());
                await Task.Delay(500);
            }
        });

        await using var client = new ModbusTcpClient(new() { Port = port, Timeout = TimeSpan.FromSeconds(10) });
        await Assert.ThrowsAsync<ModbusProtocolException>(() => client.ReadHoldingRegistersAsync(0, 1));
        var lost = await Assert.ThrowsAsync<ModbusConnectionException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.Contains("malformed", lost.Message);
        Assert.Equal(new ushort[] { 5 }, await client.ReadHoldingRegistersAsync(0, 1));
        await device;
    }

    [Fact]
    public async Task Client_times_out_on_a_silent_device_and_backs_off_on_refused_connects()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = listener.AcceptTcpClientAsync();

        await using var client = new ModbusTcpClient(new() { Port = port, Timeout = TimeSpan.FromMilliseconds(300), ReconnectDelay = TimeSpan.FromSeconds(5) });
        var started = DateTime.UtcNow;
        var e = await Assert.ThrowsAsync<ModbusTimeoutException>(() => client.ReadCoilsAsync(0, 1));
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        Assert.Contains("300 ms", e.Message);
        Assert.Equal(1, client.Timeouts);
        (await accepted).Dispose();

        listener.Stop(); // now connects are refused
        await Assert.ThrowsAsync<ModbusConnectionException>(() => client.ReadCoilsAsync(0, 1));
        var backoff = await Assert.ThrowsAsync<ModbusConnectionException>(() => client.ReadCoilsAsync(0, 1));
        Assert.Contains("next attempt in", backoff.Message);
    }

    [Fact]
    public async Task Client_and_server_work_together_with_many_requests_in_flight()
    {
        var model = new ModbusDataModel(5000, 5000, 5000, 5000);
        model.WriteInputRegisters(0, Enumerable.Range(0, 5000).Select(i => (ushort)(i * 7)).ToArray());
        await using var server = new ModbusTcpServer(model, IPAddress.Loopback, 0);
        server.Start();
        await using var client = new ModbusTcpClient(new() { Port = server.Port, MaxInFlight = 8, Timeout = TimeSpan.FromSeconds(10) });

        var reads = Enumerable.Range(0, 50).Select(i => client.ReadInputRegistersAsync((ushort)(i * 10), 10)).ToArray();
        var results = await Task.WhenAll(reads);
        var big = await client.ReadInputRegistersAsync(100, 1000); // 8 requests, joined

        for (var i = 0; i < 50; i++) Assert.Equal(Enumerable.Range(i * 10, 10).Select(j => (ushort)(j * 7)), results[i]);
        Assert.Equal(Enumerable.Range(100, 1000).Select(j => (ushort)(j * 7)), big);
        Assert.Equal(58, client.Requests);
    }
}
