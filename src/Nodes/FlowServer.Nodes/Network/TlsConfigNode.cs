using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Network;

public sealed class TlsOptions : NodeOptions
{
    [Property("cert", Label = "Certificate", Help = "Path of the client certificate (PEM), when the server asks for one")]
    public string Cert { get; set; } = "";

    [Property("key", Label = "Private key", Help = "Path of the client certificate's private key (PEM)")]
    public string Key { get; set; } = "";

    [Property("ca", Label = "CA certificate", Help = "Path of the CA certificate(s) (PEM) that signed the server's certificate; empty to trust the system's roots")]
    public string Ca { get; set; } = "";

    // Names of files uploaded in Node-RED's editor; the contents are in the credentials.
    [Property("certname", Editor = PropertyEditor.Hidden)]
    public string CertName { get; set; } = "";

    [Property("keyname", Editor = PropertyEditor.Hidden)]
    public string KeyName { get; set; } = "";

    [Property("caname", Editor = PropertyEditor.Hidden)]
    public string CaName { get; set; } = "";

    [Property("servername", Label = "Server name", Help = "Name expected in the server's certificate (SNI); empty for the host connected to")]
    public string ServerName { get; set; } = "";

    [Property("verifyservercert", Editor = PropertyEditor.Checkbox, Label = "Verify server certificate", Help = "Off accepts any server certificate (testing only)")]
    public bool VerifyServerCert { get; set; } = true;

    [Property("alpnprotocol", Label = "ALPN protocol")]
    public string AlpnProtocol { get; set; } = "";

    [Credential("certdata", Label = "Certificate (PEM text)")]
    public string? CertData { get; set; }

    [Credential("keydata", Secret = true, Label = "Private key (PEM text)")]
    public string? KeyData { get; set; }

    [Credential("cadata", Label = "CA certificate (PEM text)")]
    public string? CaData { get; set; }

    [Credential("passphrase", Secret = true, Label = "Key passphrase")]
    public string? Passphrase { get; set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        try { LoadClientCertificate(); }
        catch (TlsMaterialException e) { errors.Add(e.Error); }
        try { LoadAuthorities(); }
        catch (TlsMaterialException e) { errors.Add(e.Error); }
        return errors;
    }

    /// <summary>The client certificate with its key, or null when none is configured.</summary>
    public X509Certificate2? LoadClientCertificate()
    {
        var cert = ReadPem("cert", Cert, CertData);
        var key = ReadPem("key", Key, KeyData);
        if (cert is null && key is null) return null;
        if (cert is null) throw new TlsMaterialException("cert", "a private key is given but no certificate");
        if (key is null) throw new TlsMaterialException("key", "a certificate is given but no private key");
        try
        {
            using var pem = string.IsNullOrEmpty(Passphrase)
                ? X509Certificate2.CreateFromPem(cert, key)
                : X509Certificate2.CreateFromEncryptedPem(cert, key, Passphrase);
            // SslStream on Linux needs the key in an exportable, loaded form: round-trip through PKCS#12.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (CryptographicException e)
        {
            throw new TlsMaterialException("key", $"the certificate and key cannot be loaded: {e.Message}");
        }
    }

    /// <summary>The CA certificates to trust instead of the system's roots (empty for the system's).</summary>
    public X509Certificate2Collection LoadAuthorities()
    {
        var collection = new X509Certificate2Collection();
        if (ReadPem("ca", Ca, CaData) is not { } ca) return collection;
        try { collection.ImportFromPem(ca); }
        catch (CryptographicException e) { throw new TlsMaterialException("ca", $"is not a PEM certificate: {e.Message}"); }
        if (collection.Count == 0) throw new TlsMaterialException("ca", "holds no PEM certificate");
        return collection;
    }

    /// <summary>
    /// Checks a server certificate: anything when verification is off; against the configured CA
    /// when there is one (the system's roots are then not used); else the platform's verdict.
    /// </summary>
    public Func<X509Certificate?, X509Chain?, SslPolicyErrors, bool> CreateServerValidator()
    {
        if (!VerifyServerCert) return (_, _, _) => true;
        var authorities = LoadAuthorities();
        if (authorities.Count == 0) return (_, _, errors) => errors == SslPolicyErrors.None;
        return (certificate, _, errors) =>
        {
            if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch) || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
                return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
        };
    }

    /// <summary>PEM text from the credentials (an uploaded file) or else from the file at <paramref name="path"/>.</summary>
    static string? ReadPem(string field, string path, string? data)
    {
        if (!string.IsNullOrWhiteSpace(data)) return data;
        if (string.IsNullOrWhiteSpace(path)) return null;
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TlsMaterialException(field, $"cannot read '{path}': {e.Message}");
        }
    }
}

/// <summary>A certificate, key or CA that cannot be used, with the field it came from.</summary>
public sealed class TlsMaterialException(string field, string message) : Exception($"{field}: {message}")
{
    public OptionError Error { get; } = new(field, message);
}

[NodeType("tls-config", Category = "config", Color = "#d8bfd8", Icon = "lock",
    Help = """
    TLS settings shared by connections that use them (for example an `mqtt-broker` with *Use TLS*).

    ### Details
    *CA certificate* is a PEM file of the authority that signed the server's certificate; when
    given, only that authority is trusted. Without it the system's trusted roots are used.
    *Certificate* and *Private key* (PEM) are sent when the server asks for a client certificate.
    Files uploaded in Node-RED's editor arrive as the credentials `certdata`, `keydata` and
    `cadata` and take precedence over the paths. A file that cannot be read or parsed is refused
    at deploy, naming the field.
    """)]
public sealed class TlsConfigNode : ConfigNode<TlsOptions>
{
    /// <summary>The settings, for the connections that use them.</summary>
    public TlsOptions Settings => Options;
}
