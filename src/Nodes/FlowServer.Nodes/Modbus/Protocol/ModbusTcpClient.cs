using System.Collections.Concurrent;
using System.Net.Sockets;

namespace FlowServer.Nodes.Modbus.Protocol;

/// <summary>Settings of a <see cref="ModbusTcpClient"/>.</summary>
public sealed record ModbusTcpClientOptions
{
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 502;
    /// <summary>Unit id used when a request does not name one.</summary>
    public byte UnitId { get; init; } = 1;
    /// <summary>Time a request (and a connect attempt) may take on the wire.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Wait after a failed connect before the next attempt; doubles up to <see cref="MaxReconnectDelay"/>.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Requests on the wire at once; 1 queues them (for devices that cannot pipeline).</summary>
    public int MaxInFlight { get; init; } = 1;
    /// <summary>Drop the connection after a timeout (a device that stalls often needs a fresh socket).</summary>
    public bool ReconnectOnTimeout { get; init; } = true;
    /// <summary>The clock the reconnect backoff is measured on (tests step it by hand).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}

public enum ModbusConnectionState { Disconnected, Connected }

/// <summary>
/// A Modbus TCP client on one connection. Thread-safe: requests from many callers are matched
/// to responses by transaction id, with up to <see cref="ModbusTcpClientOptions.MaxInFlight"/>
/// on the wire and the rest waiting. Connects on first use and after a loss, no sooner than
/// the reconnect backoff allows; meanwhile requests fail fast with <see cref="ModbusConnectionException"/>.
/// </summary>
public sealed class ModbusTcpClient : IAsyncDisposable
{
    readonly SemaphoreSlim _connectLock = new(1, 1);
    readonly SemaphoreSlim _inFlight;
    readonly CancellationTokenSource _disposed = new();
    Connection? _connection;
    DateTime _nextAttempt = DateTime.MinValue;
    TimeSpan _backoff;
    string? _lastError;
    int _transactionId;
    long _requests, _timeouts, _reconnects;

    public ModbusTcpClient(ModbusTcpClientOptions options)
    {
        if (options.MaxInFlight < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxInFlight must be at least 1");
        Options = options;
        _inFlight = new SemaphoreSlim(options.MaxInFlight, options.MaxInFlight);
        _backoff = options.ReconnectDelay;
    }

    public ModbusTcpClientOptions Options { get; }
    public string Endpoint => $"{Options.Host}:{Options.Port}";
    public ModbusConnectionState State => _connection is { IsAlive: true } ? ModbusConnectionState.Connected : ModbusConnectionState.Disconnected;
    public long Requests => Interlocked.Read(ref _requests);
    public long Timeouts => Interlocked.Read(ref _timeouts);
    /// <summary>Successful connects after the first.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Raised on connect and on loss of the connection (with the cause). Handlers must be quick.</summary>
    public event Action<ModbusConnectionState, string?>? StateChanged;

    /// <summary>Connects now unless connected already, ignoring the backoff.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        _nextAttempt = DateTime.MinValue;
        await EnsureConnectedAsync(cancellationToken);
    }

    /// <summary>Connects when disconnected and the backoff allows; false when the attempt failed or is not due.</summary>
    public async Task<bool> TryConnectAsync(CancellationToken cancellationToken = default)
    {
        try { await EnsureConnectedAsync(cancellationToken); return true; }
        catch (ModbusConnectionException) { return false; }
    }

    /// <summary>Why the last connect or connection failed, or null when connected.</summary>
    public string? LastError => _lastError;

    // ---- typed requests ----

    public Task<bool[]> ReadCoilsAsync(ushort address, int quantity, byte? unitId = null, CancellationToken cancellationToken = default) =>
        ReadBitsAsync(ModbusFunction.ReadCoils, address, quantity, unitId, cancellationToken);

    public Task<bool[]> ReadDiscreteInputsAsync(ushort address, int quantity, byte? unitId = null, CancellationToken cancellationToken = default) =>
        ReadBitsAsync(ModbusFunction.ReadDiscreteInputs, address, quantity, unitId, cancellationToken);

    public Task<ushort[]> ReadHoldingRegistersAsync(ushort address, int quantity, byte? unitId = null, CancellationToken cancellationToken = default) =>
        ReadRegistersAsync(ModbusFunction.ReadHoldingRegisters, address, quantity, unitId, cancellationToken);

    public Task<ushort[]> ReadInputRegistersAsync(ushort address, int quantity, byte? unitId = null, CancellationToken cancellationToken = default) =>
        ReadRegistersAsync(ModbusFunction.ReadInputRegisters, address, quantity, unitId, cancellationToken);

    /// <summary>Reads FC 1 or 2; more than 2000 bits are read in several requests and joined.</summary>
    public async Task<bool[]> ReadBitsAsync(ModbusFunction function, ushort address, int quantity, byte? unitId = null, CancellationToken cancellationToken = default)
    {
        CheckSpan(address, quantity);
        var chunks = await Task.WhenAll(Chunks(address, quantity, ModbusLimits.MaxReadBits).Select(async c =>
        {
            var request = ModbusPdu.ReadRequest(function, c.Address, c.Count);
            var response = await SendAsync(request, unitId, cancellationToken);
            return ModbusPdu.ParseBits(response, function, c.Count);
        }));
        return chunks.SelectMany(c => c).ToArray();
    }

    /// <summary>Reads FC 3 or 4; more than 125 registers are read in several requests and joined.</summary>
    public async Task<ushort[]> ReadRegistersAsync(ModbusFunction function, ushort address, int quantity, byte? unitId = null, CancellationToken cancellationToken = default)
    {
        CheckSpan(address, quantity);
        var chunks = await Task.WhenAll(Chunks(address, quantity, ModbusLimits.MaxReadRegisters).Select(async c =>
        {
            var request = ModbusPdu.ReadRequest(function, c.Address, c.Count);
            var response = await SendAsync(request, unitId, cancellationToken);
            return ModbusPdu.ParseRegisters(response, function, c.Count);
        }));
        return chunks.SelectMany(c => c).ToArray();
    }

    public Task WriteSingleCoilAsync(ushort address, bool value, byte? unitId = null, CancellationToken cancellationToken = default) =>
        WriteAsync(ModbusPdu.WriteSingleCoilRequest(address, value), unitId, cancellationToken);

    public Task WriteSingleRegisterAsync(ushort address, ushort value, byte? unitId = null, CancellationToken cancellationToken = default) =>
        WriteAsync(ModbusPdu.WriteSingleRegisterRequest(address, value), unitId, cancellationToken);

    public Task WriteMultipleCoilsAsync(ushort address, IReadOnlyList<bool> values, byte? unitId = null, CancellationToken cancellationToken = default) =>
        WriteAsync(ModbusPdu.WriteMultipleCoilsRequest(address, values), unitId, cancellationToken);

    public Task WriteMultipleRegistersAsync(ushort address, IReadOnlyList<ushort> values, byte? unitId = null, CancellationToken cancellationToken = default) =>
        WriteAsync(ModbusPdu.WriteMultipleRegistersRequest(address, values), unitId, cancellationToken);

    async Task WriteAsync(byte[] request, byte? unitId, CancellationToken cancellationToken)
    {
        var response = await SendAsync(request, unitId, cancellationToken);
        ModbusPdu.ParseWriteEcho(response, request);
    }

    static void CheckSpan(int address, int quantity)
    {
        if (quantity < 1) throw new ArgumentOutOfRangeException(nameof(quantity), quantity, "quantity must be at least 1");
        if (address + quantity > 65536) throw new ArgumentOutOfRangeException(nameof(quantity), quantity, $"address {address} + quantity {quantity} passes 65535");
    }

    static IEnumerable<(ushort Address, ushort Count)> Chunks(int address, int quantity, int max)
    {
        for (var offset = 0; offset < quantity; offset += max)
            yield return ((ushort)(address + offset), (ushort)Math.Min(max, quantity - offset));
    }

    // ---- the wire ----

    /// <summary>
    /// Sends one request PDU and returns the response PDU (which may be an exception response;
    /// the typed methods turn that into <see cref="ModbusException"/>). Throws
    /// <see cref="ModbusTimeoutException"/> when no answer comes within the timeout and
    /// <see cref="ModbusConnectionException"/> when the connection is down or lost.
    /// </summary>
    public async Task<byte[]> SendAsync(byte[] pdu, byte? unitId = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        if (pdu.Length is 0 or > ModbusLimits.MaxPduLength) throw new ArgumentException($"PDU length {pdu.Length} is outside 1..{ModbusLimits.MaxPduLength}", nameof(pdu));
        await _inFlight.WaitAsync(cancellationToken);
        try
        {
            var connection = await EnsureConnectedAsync(cancellationToken);
            var unit = unitId ?? Options.UnitId;
            var pending = connection.Register(NextTransactionId(connection), out var transactionId);
            Interlocked.Increment(ref _requests);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.Timeout);
            try
            {
                await connection.WriteAsync(new ModbusFrame(transactionId, unit, pdu).Encode(), timeout.Token);
                var response = await pending.Task.WaitAsync(timeout.Token);
                if (response.UnitId != unit) throw new ModbusProtocolException($"response carries unit id {response.UnitId}, request was for {unit}");
                return response.Pdu;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _timeouts);
                if (Options.ReconnectOnTimeout) Drop(connection, $"no response within {Options.Timeout.TotalMilliseconds:0} ms");
                throw new ModbusTimeoutException($"no response from {Endpoint} (unit {unit}, function {pdu[0]}) within {Options.Timeout.TotalMilliseconds:0} ms");
            }
            catch (IOException e) when (e is not ModbusConnectionException)
            {
                Drop(connection, e.Message);
                throw new ModbusConnectionException($"connection to {Endpoint} lost: {e.Message}", e);
            }
            finally { connection.Unregister(transactionId); }
        }
        finally { _inFlight.Release(); }
    }

    ushort NextTransactionId(Connection connection)
    {
        // Skip ids still pending, which only happens after 65536 requests with a stuck one.
        while (true)
        {
            var id = (ushort)Interlocked.Increment(ref _transactionId);
            if (!connection.IsPending(id)) return id;
        }
    }

    async Task<Connection> EnsureConnectedAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsAlive: true } alive) return alive;
        await _connectLock.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsAlive: true } raced) return raced;
            var now = Options.Clock.GetUtcNow().UtcDateTime;
            if (now < _nextAttempt)
                throw new ModbusConnectionException($"not connected to {Endpoint} ({_lastError}); next attempt in {(_nextAttempt - now).TotalMilliseconds:0} ms");
            var socket = new TcpClient { NoDelay = true };
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
                timeout.CancelAfter(Options.Timeout);
                await socket.ConnectAsync(Options.Host, Options.Port, timeout.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                _lastError = e is OperationCanceledException ? $"connect timed out after {Options.Timeout.TotalMilliseconds:0} ms" : e.Message;
                _nextAttempt = Options.Clock.GetUtcNow().UtcDateTime + _backoff;
                _backoff = TimeSpan.FromTicks(Math.Min(_backoff.Ticks * 2, Options.MaxReconnectDelay.Ticks));
                StateChanged?.Invoke(ModbusConnectionState.Disconnected, _lastError);
                throw new ModbusConnectionException($"cannot connect to {Endpoint}: {_lastError}", e);
            }
            catch { socket.Dispose(); throw; }
            if (_connection is not null) Interlocked.Increment(ref _reconnects);
            _backoff = Options.ReconnectDelay;
            _lastError = null;
            var connection = new Connection(socket, this);
            _connection = connection;
            connection.Start();
            StateChanged?.Invoke(ModbusConnectionState.Connected, null);
            return connection;
        }
        finally { _connectLock.Release(); }
    }

    void Drop(Connection connection, string reason)
    {
        if (!connection.Close(reason)) return;
        _lastError = reason;
        // A lost connection may be retried at once; the backoff applies to failed connects.
        StateChanged?.Invoke(ModbusConnectionState.Disconnected, reason);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested) return;
        _disposed.Cancel();
        if (_connection is { } connection)
        {
            connection.Close("client disposed");
            await connection.ReadLoop.ConfigureAwait(false);
        }
    }

    /// <summary>One TCP connection: a socket, its read loop and the requests waiting on it.</summary>
    sealed class Connection(TcpClient socket, ModbusTcpClient owner)
    {
        readonly NetworkStream _stream = socket.GetStream();
        readonly ConcurrentDictionary<ushort, TaskCompletionSource<ModbusFrame>> _pending = new();
        readonly SemaphoreSlim _writeLock = new(1, 1);
        readonly CancellationTokenSource _closed = new();
        int _isClosed;

        public bool IsAlive => Volatile.Read(ref _isClosed) == 0;
        public Task ReadLoop { get; private set; } = Task.CompletedTask;

        public void Start() => ReadLoop = Task.Run(ReadLoopAsync);

        public bool IsPending(ushort id) => _pending.ContainsKey(id);

        public TaskCompletionSource<ModbusFrame> Register(ushort id, out ushort transactionId)
        {
            var source = new TaskCompletionSource<ModbusFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[id] = source;
            transactionId = id;
            if (!IsAlive) source.TrySetException(new ModbusConnectionException($"connection to {owner.Endpoint} closed"));
            return source;
        }

        public void Unregister(ushort id) => _pending.TryRemove(id, out _);

        public async Task WriteAsync(byte[] frame, CancellationToken cancellationToken)
        {
            await _writeLock.WaitAsync(cancellationToken);
            try { await _stream.WriteAsync(frame, cancellationToken); }
            catch (ObjectDisposedException) { throw new ModbusConnectionException($"connection to {owner.Endpoint} closed"); }
            finally { _writeLock.Release(); }
        }

        async Task ReadLoopAsync()
        {
            string reason;
            try
            {
                while (true)
                {
                    var frame = await ModbusFrame.ReadAsync(_stream, _closed.Token);
                    if (frame is null) { reason = "closed by the device"; break; }
                    // A late answer to a request that already timed out has no taker; drop it.
                    if (_pending.TryRemove(frame.TransactionId, out var waiter)) waiter.TrySetResult(frame);
                }
            }
            catch (OperationCanceledException) { return; }
            catch (ModbusProtocolException e) { reason = $"malformed response: {e.Message}"; }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { reason = e.Message; }
            owner.Drop(this, reason);
        }

        /// <summary>Closes once; fails every waiting request. False when it was closed already.</summary>
        public bool Close(string reason)
        {
            if (Interlocked.Exchange(ref _isClosed, 1) == 1) return false;
            _closed.Cancel();
            socket.Dispose();
            foreach (var (id, waiter) in _pending)
                if (_pending.TryRemove(id, out _)) waiter.TrySetException(new ModbusConnectionException($"connection to {owner.Endpoint} lost: {reason}"));
            return true;
        }
    }
}
