using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace FlowServer.Nodes.Modbus.Protocol;

/// <summary>What a client did on the server: for the simulated device's request output.</summary>
public sealed record ModbusRequestInfo(EndPoint? Client, byte UnitId, byte Function, ushort Address, ushort Quantity, bool IsWrite, ModbusExceptionCode? Exception);

/// <summary>
/// A Modbus TCP server over a <see cref="ModbusDataModel"/>. Serves many clients at once, each
/// connection answering its requests in order, for any unit id. Unknown function codes get
/// exception 1, addresses outside the tables exception 2, bad quantities or values exception 3.
/// A connection that sends a malformed MBAP header is closed, and so is one that stays silent
/// longer than <see cref="IdleTimeout"/> or starts a frame and does not finish it within
/// <see cref="FrameTimeout"/> (a half-sent header must not hold a connection forever); the
/// server keeps running.
/// </summary>
public sealed class ModbusTcpServer : IAsyncDisposable
{
    readonly TcpListener _listener;
    readonly CancellationTokenSource _stopping = new();
    readonly List<Task> _connections = [];
    readonly ConcurrentDictionary<ReadWatch, byte> _watches = new();
    Task _acceptLoop = Task.CompletedTask;
    Task _watchdog = Task.CompletedTask;
    int _clients;

    public ModbusTcpServer(ModbusDataModel model, IPAddress address, int port)
    {
        Model = model;
        _listener = new TcpListener(address, port);
    }

    public ModbusDataModel Model { get; }
    /// <summary>Delay before each response, to simulate a slow device.</summary>
    public TimeSpan ResponseDelay { get; set; }
    /// <summary>Longest silence between requests before the connection is closed.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(5);
    /// <summary>Longest time from the first byte of a request to its last.</summary>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>The bound port (useful after binding port 0).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public int ClientCount => Volatile.Read(ref _clients);

    /// <summary>Raised after every handled request. Handlers run on the connection's task and must be quick.</summary>
    public event Action<ModbusRequestInfo>? RequestHandled;

    public void Start()
    {
        _listener.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
        _watchdog = Task.Run(WatchAsync);
    }

    /// <summary>
    /// Where one connection's reader is: idle since a time, or inside a frame since its first
    /// byte. One long, so the watchdog never sees a new phase with an old time; the sign says
    /// which. Checked by one timer per server, so a request costs two writes, not a timer.
    /// </summary>
    sealed class ReadWatch(TcpClient client)
    {
        long _since = Environment.TickCount64;
        public TcpClient Client => client;
        public void FrameStarted() => Volatile.Write(ref _since, -Environment.TickCount64);
        public void FrameFinished() => Volatile.Write(ref _since, Environment.TickCount64);

        public bool IsOverdue(long now, TimeSpan idle, TimeSpan frame)
        {
            var since = Volatile.Read(ref _since);
            return since < 0 ? now + since > frame.TotalMilliseconds : now - since > idle.TotalMilliseconds;
        }
    }

    async Task WatchAsync()
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(Math.Min(IdleTimeout.TotalMilliseconds, FrameTimeout.TotalMilliseconds) / 4, 10, 1000));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                var now = Environment.TickCount64;
                foreach (var watch in _watches.Keys)
                    if (watch.IsOverdue(now, IdleTimeout, FrameTimeout)) watch.Client.Dispose(); // its pending read then fails
            }
        }
        catch (OperationCanceledException) { }
    }

    async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stopping.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            client.NoDelay = true;
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(Task.Run(() => ServeAsync(client)));
            }
        }
    }

    async Task ServeAsync(TcpClient client)
    {
        Interlocked.Increment(ref _clients);
        var remote = client.Client.RemoteEndPoint;
        var watch = new ReadWatch(client);
        Action started = watch.FrameStarted;
        _watches[watch] = 0;
        try
        {
            using (client)
            {
                var stream = client.GetStream();
                while (!_stopping.IsCancellationRequested)
                {
                    var frame = await ModbusFrame.ReadAsync(stream, _stopping.Token, started);
                    if (frame is null) return;
                    watch.FrameFinished();
                    var response = Handle(frame.Pdu, out var info);
                    if (ResponseDelay > TimeSpan.Zero) await Task.Delay(ResponseDelay, _stopping.Token);
                    await stream.WriteAsync(new ModbusFrame(frame.TransactionId, frame.UnitId, response).Encode(), _stopping.Token);
                    RequestHandled?.Invoke(info with { Client = remote, UnitId = frame.UnitId });
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ModbusProtocolException or ObjectDisposedException)
        {
            // The client went away, fell silent, stopped inside a frame (closed by the watchdog)
            // or spoke something that is not Modbus TCP: drop only that connection.
        }
        finally
        {
            _watches.TryRemove(watch, out _);
            Interlocked.Decrement(ref _clients);
        }
    }

    /// <summary>Answers one request PDU from the data model (also used directly by tests).</summary>
    public byte[] Handle(ReadOnlySpan<byte> request, out ModbusRequestInfo info)
    {
        var function = request.Length > 0 ? request[0] : (byte)0;
        ushort address = request.Length >= 3 ? BinaryPrimitives.ReadUInt16BigEndian(request[1..]) : (ushort)0;
        ushort quantity = request.Length >= 5 ? BinaryPrimitives.ReadUInt16BigEndian(request[3..]) : (ushort)0;
        var isWrite = function is 5 or 6 or 15 or 16;
        info = new ModbusRequestInfo(null, 0, function, address, quantity, isWrite, null);
        try
        {
            var response = Execute((ModbusFunction)function, request, address, quantity);
            if (function is 5 or 6) info = info with { Quantity = 1 };
            return response;
        }
        catch (ModbusException e)
        {
            info = info with { Exception = e.Code };
            return ModbusPdu.ExceptionResponse(function, e.Code);
        }
    }

    byte[] Execute(ModbusFunction function, ReadOnlySpan<byte> request, ushort address, ushort quantity)
    {
        switch (function)
        {
            case ModbusFunction.ReadCoils or ModbusFunction.ReadDiscreteInputs:
                Require(request.Length == 5 && quantity is >= 1 and <= ModbusLimits.MaxReadBits, function);
                return ModbusPdu.BitsResponse(function, function == ModbusFunction.ReadCoils
                    ? Model.ReadCoils(address, quantity) : Model.ReadDiscreteInputs(address, quantity));
            case ModbusFunction.ReadHoldingRegisters or ModbusFunction.ReadInputRegisters:
                Require(request.Length == 5 && quantity is >= 1 and <= ModbusLimits.MaxReadRegisters, function);
                return ModbusPdu.RegistersResponse(function, function == ModbusFunction.ReadHoldingRegisters
                    ? Model.ReadHoldingRegisters(address, quantity) : Model.ReadInputRegisters(address, quantity));
            case ModbusFunction.WriteSingleCoil:
                Require(request.Length == 5 && quantity is 0xFF00 or 0x0000, function);
                Model.WriteCoils(address, [quantity == 0xFF00]);
                return request[..5].ToArray();
            case ModbusFunction.WriteSingleRegister:
                Require(request.Length == 5, function);
                Model.WriteHoldingRegisters(address, [quantity]);
                return request[..5].ToArray();
            case ModbusFunction.WriteMultipleCoils:
                Require(request.Length >= 6 && quantity is >= 1 and <= ModbusLimits.MaxWriteBits
                    && request[5] == (quantity + 7) / 8 && request.Length == 6 + request[5], function);
                Model.WriteCoils(address, ModbusPdu.UnpackBits(request[6..], quantity));
                return request[..5].ToArray();
            case ModbusFunction.WriteMultipleRegisters:
                Require(request.Length >= 6 && quantity is >= 1 and <= ModbusLimits.MaxWriteRegisters
                    && request[5] == quantity * 2 && request.Length == 6 + request[5], function);
                var values = new ushort[quantity];
                for (var i = 0; i < quantity; i++) values[i] = BinaryPrimitives.ReadUInt16BigEndian(request[(6 + i * 2)..]);
                Model.WriteHoldingRegisters(address, values);
                return request[..5].ToArray();
            default:
                throw new ModbusException((byte)function, ModbusExceptionCode.IllegalFunction);
        }
    }

    static void Require(bool valid, ModbusFunction function)
    {
        if (!valid) throw new ModbusException((byte)function, ModbusExceptionCode.IllegalDataValue);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        _stopping.Cancel();
        _listener.Stop();
        await _acceptLoop;
        await _watchdog;
        Task[] open;
        lock (_connections) open = _connections.ToArray();
        await Task.WhenAll(open);
    }
}
