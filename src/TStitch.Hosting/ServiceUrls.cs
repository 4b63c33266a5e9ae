using Microsoft.Extensions.Configuration;

namespace TStitch.Hosting;

/// <summary>The addresses a service's gRPC endpoint listens on, as ASP.NET Core reads them from configuration.</summary>
public static class ServiceUrls
{
    /// <summary>
    /// Urls (appsettings, --urls, ASPNETCORE_URLS or Urls in the environment), else HTTP_PORTS
    /// (set by the aspnet container images), else Kestrel's default http://localhost:5000.
    /// </summary>
    public static string[] Configured(IConfiguration configuration)
    {
        var urls = configuration["urls"];
        if (!string.IsNullOrWhiteSpace(urls))
            return urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ports = configuration["http_ports"];
        if (!string.IsNullOrWhiteSpace(ports))
            return [.. ports.Split([';', ','],
                StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}")];
        return ["http://localhost:5000"];
    }

    /// <summary>
    /// A loopback address for calling this service from inside its own host or container: the first
    /// configured url with a wildcard host (0.0.0.0, *, +, [::]) replaced by 127.0.0.1, keeping its
    /// scheme (https when the service speaks TLS).
    /// </summary>
    public static string LoopbackAddress(IConfiguration configuration, int skipPort = 0)
    {
        foreach (var url in Configured(configuration))
        {
            // "*" and "+" are not valid URI hosts; Kestrel accepts them, so map them before parsing.
            var normalized = url.Replace("://*", "://0.0.0.0").Replace("://+", "://0.0.0.0");
            if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri)) continue;
            if (skipPort > 0 && uri.Port == skipPort) continue;
            var host = uri.Host is "0.0.0.0" or "[::]" or "::" ? "127.0.0.1" : uri.Host;
            return $"{uri.Scheme}://{(host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host)}:{uri.Port}";
        }
        throw new InvalidOperationException($"No usable gRPC url in '{string.Join(';', Configured(configuration))}'.");
    }

    /// <summary>
    /// The metrics endpoint's url: plain HTTP on <paramref name="port"/>, bound to the same host as the
    /// first gRPC url, so a service bound to loopback (the shipped default) does not expose its metrics
    /// on every interface, and one bound to 0.0.0.0 (containers) can be scraped.
    /// </summary>
    public static string MetricsUrl(IConfiguration configuration, int port)
    {
        var first = Configured(configuration)[0].Replace("://*", "://0.0.0.0").Replace("://+", "://0.0.0.0");
        string host = Uri.TryCreate(first, UriKind.Absolute, out var uri) ? uri.Host : "0.0.0.0";
        return $"http://{(host == "0.0.0.0" ? "*" : host)}:{port}";
    }
}
