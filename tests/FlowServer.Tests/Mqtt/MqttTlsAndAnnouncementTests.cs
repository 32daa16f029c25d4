using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;
using static FlowServer.Tests.Mqtt.MqttNodeTests;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// mqtt-broker with TLS (a tls-config node: CA, client certificate, verification) against a real
/// Mosquitto TLS listener that requires client certificates, and birth/close messages.
/// </summary>
public sealed class MqttTlsAndAnnouncementTests : IDisposable
{
    readonly TempDirectory _pki = new("flowserver-pki");
    readonly string _caPath, _serverCertPath, _serverKeyPath, _clientCertPath, _clientKeyPath, _otherCaPath;

    public MqttTlsAndAnnouncementTests()
    {
        using var ca = CreateAuthority("FlowServer test CA");
        using var otherCa = CreateAuthority("Some other CA");
        using var server = Issue(ca, "localhost", serverAuth: true);
        using var client = Issue(ca, "flowserver-client", serverAuth: false);
        _caPath = Write("ca.pem", ca.ExportCertificatePem());
        _otherCaPath = Write("other-ca.pem", otherCa.ExportCertificatePem());
        _serverCertPath = Write("server.pem", server.ExportCertificatePem());
        _serverKeyPath = Write("server.key", server.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        _clientCertPath = Write("client.pem", client.ExportCertificatePem());
        _clientKeyPath = Write("client.key", client.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    public void Dispose() => _pki.Dispose();

    string Write(string name, string pem)
    {
        var path = Path.Combine(_pki.Path, name);
        File.WriteAllText(path, pem);
        return path;
    }

    static X509Certificate2 CreateAuthority(string name)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    static X509Certificate2 Issue(X509Certificate2 ca, string name, bool serverAuth)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        return issued.CopyWithPrivateKey(key);
    }

    Task<MosquittoFixture> StartTlsBrokerAsync() => MosquittoFixture.StartNewAsync($"""
        cafile {_caPath}
        certfile {_serverCertPath}
        keyfile {_serverKeyPath}
        require_certificate true
        """);

    object TlsBroker(int port, string tlsId = "tls1") =>
        new { id = "b1", type = "mqtt-broker", broker = "127.0.0.1", port, usetls = true, tls = tlsId, keepalive = 10 };

    object TlsConfig(string? ca = null, bool verify = true, string id = "tls1") =>
        new { id, type = "tls-config", name = "", cert = _clientCertPath, key = _clientKeyPath, ca = ca ?? _caPath, certname = "", keyname = "", caname = "", servername = "", verifyservercert = verify };

    [Fact]
    public async Task A_Node_RED_tls_config_with_CA_and_client_certificate_carries_messages_through_a_TLS_broker()
    {
        await using var mosquitto = await StartTlsBrokerAsync();
        await using var flow = await StartAsync(Flow(
            TlsBroker(mosquitto.Port),
            TlsConfig(),
            new { id = "in", type = "mqtt in", topic = "secure/#", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "c" } } },
            new { id = "out", type = "mqtt out", topic = "", qos = "1", broker = "b1" },
            new { id = "c", type = "test-capture" }));
        await WaitForStatusAsync(flow, "in", "connected", TimeSpan.FromSeconds(20));

        await flow.SendAsync("out", "over tls", "secure/line1");
        var message = await flow.NextAsync("c", TimeSpan.FromSeconds(10));
        Assert.Equal(("secure/line1", "over tls"), (message.Topic, message.Payload));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_server_certificate_from_another_CA_is_refused_unless_verification_is_off()
    {
        await using var mosquitto = await StartTlsBrokerAsync();
        await using (var refused = await StartAsync(Flow(
            TlsBroker(mosquitto.Port),
            TlsConfig(ca: _otherCaPath),
            new { id = "out", type = "mqtt out", topic = "t", broker = "b1" })))
        {
            await WaitForStatusAsync(refused, "out", "disconnected", TimeSpan.FromSeconds(20));
            var error = await refused.WaitForErrorAsync("cannot connect");
            Assert.Contains("127.0.0.1:" + mosquitto.Port, error);
        }

        await using var accepted = await StartAsync(Flow(
            TlsBroker(mosquitto.Port),
            TlsConfig(ca: _otherCaPath, verify: false),
            new { id = "out", type = "mqtt out", topic = "t", broker = "b1" }));
        await WaitForStatusAsync(accepted, "out", "connected", TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void Unreadable_or_invalid_certificate_files_are_refused_at_deploy_naming_the_field()
    {
        var notPem = Write("not-a-cert.pem", "hello");
        var errors = Validate(Flow(
            new { id = "b1", type = "mqtt-broker", broker = "127.0.0.1", port = 8883, usetls = true, tls = "tls1" },
            new { id = "tls1", type = "tls-config", cert = _clientCertPath, key = Path.Combine(_pki.Path, "missing.key"), ca = notPem }));
        Assert.Contains(errors, e => e.NodeId == "tls1" && e.Field == "key" && e.Message.Contains("missing.key"));
        Assert.Contains(errors, e => e.NodeId == "tls1" && e.Field == "ca" && e.Message.Contains("PEM"));
    }

    [Fact]
    public async Task Birth_is_published_on_connect_and_close_before_a_clean_disconnect()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var watcher = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await watcher.SubscribeAsync("status/#");
        var broker = new
        {
            id = "b1", type = "mqtt-broker", broker = "127.0.0.1", port = mosquitto.Port, keepalive = 10,
            birthTopic = "status/flowserver", birthQos = "1", birthRetain = "false", birthPayload = "online", birthMsg = new { },
            closeTopic = "status/flowserver", closeQos = "1", closeRetain = "false", closePayload = "offline", closeMsg = new { },
            willTopic = "status/flowserver", willQos = "1", willRetain = "false", willPayload = "lost", willMsg = new { },
        };
        var flow = await StartAsync(Flow(broker, new { id = "out", type = "mqtt out", topic = "t", broker = "b1" }));
        var birth = await watcher.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(("status/flowserver", "online"), (birth.Topic, birth.ConvertPayloadToString()));

        await flow.DisposeAsync(); // a clean stop: close message, then DISCONNECT (so no will)
        var close = await watcher.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(("status/flowserver", "offline"), (close.Topic, close.ConvertPayloadToString()));
        await Assert.ThrowsAnyAsync<Exception>(() => watcher.NextAsync(TimeSpan.FromMilliseconds(500)));
    }
}
