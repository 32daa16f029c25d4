using System.Net;
using System.Net.Sockets;
using FlowServer.Nodes.Modbus.Protocol;

namespace FlowServer.Tests.Modbus;

/// <summary>
/// A scripted Modbus TCP device on a raw <see cref="TcpListener"/>, for what pymodbus cannot
/// show: it counts the requests outstanding (received and not yet answered) and the most seen
/// at once, answers after <see cref="ResponseDelay"/>, or stays <see cref="Silent"/>.
/// FC 3 and 4 are answered with register i = address + i; every other function gets exception 1.
/// </summary>
sealed class RawModbusDevice : IAsyncDisposable
{
    readonly TcpListener _listener;
    readonly CancellationTokenSource _stopping = new();
    readonly List<TcpClient> _connections = [];
    readonly Task _acceptLoop;
    int _outstanding, _mostOutstanding, _requests, _accepted;

    RawModbusDevice(TimeSpan responseDelay, int port)
    {
        ResponseDelay = responseDelay;
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Listens on <paramref name="port"/>, or on a port the OS picks.</summary>
    public static RawModbusDevice Start(TimeSpan responseDelay = default, int port = 0) => new(responseDelay, port);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public TimeSpan ResponseDelay { get; set; }
    /// <summary>While true, requests are read and counted but never answered.</summary>
    public bool Silent { get; set; }
    public int Requests => Volatile.Read(ref _requests);
    public int MostOutstanding => Volatile.Read(ref _mostOutstanding);
    public int Connections => Volatile.Read(ref _accepted);

    async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient connection;
            try { connection = await _listener.AcceptTcpClientAsync(_stopping.Token); }
            catch (Exception) { return; }
            Interlocked.Increment(ref _accepted);
            lock (_connections) _connections.Add(connection);
            _ = ServeAsync(connection);
        }
    }

    async Task ServeAsync(TcpClient connection)
    {
        var stream = connection.GetStream();
        var writeLock = new SemaphoreSlim(1, 1);
        try
        {
            while (await ModbusFrame.ReadAsync(stream, _stopping.Token) is { } request)
            {
                Interlocked.Increment(ref _requests);
                if (Silent) continue;
                var now = Interlocked.Increment(ref _outstanding);
                int most;
                while (now > (most = Volatile.Read(ref _mostOutstanding)) && Interlocked.CompareExchange(ref _mostOutstanding, now, most) != most) { }
                _ = AnswerAsync(stream, writeLock, request);
            }
        }
        catch (Exception) { /* the client went away or the device stops */ }
    }

    async Task AnswerAsync(NetworkStream stream, SemaphoreSlim writeLock, ModbusFrame request)
    {
        try
        {
            if (ResponseDelay > TimeSpan.Zero) await Task.Delay(ResponseDelay, _stopping.Token);
            var address = (ushort)(request.Pdu[1] << 8 | request.Pdu[2]);
            var quantity = request.Pdu[3] << 8 | request.Pdu[4];
            var pdu = request.Function is 3 or 4
                ? ModbusPdu.RegistersResponse((ModbusFunction)request.Function, Enumerable.Range(address, quantity).Select(i => (ushort)i).ToArray())
                : ModbusPdu.ExceptionResponse(request.Function, ModbusExceptionCode.IllegalFunction);
            // Counted as answered before the bytes leave, so the client cannot send the next one first.
            Interlocked.Decrement(ref _outstanding);
            await writeLock.WaitAsync(_stopping.Token);
            try { await stream.WriteAsync(new ModbusFrame(request.TransactionId, request.UnitId, pdu).Encode(), _stopping.Token); }
            finally { writeLock.Release(); }
        }
        catch (Exception) { /* connection closed */ }
    }

    /// <summary>Closes every open connection (the device stays reachable for new ones).</summary>
    public void DropConnections()
    {
        lock (_connections)
        {
            foreach (var connection in _connections) connection.Dispose();
            _connections.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _listener.Stop();
        await _acceptLoop;
        DropConnections();
    }
}
