// MockContext.cs - just enough of APIM's policy-expression "context" to run the
// expressions of deploy/apim/policy.xml under Mono: the members the policy uses, with the
// types and semantics APIM documents (GetValueOrDefault joins repeated values with ",",
// header names are case-insensitive, Body is null when there is none).
// Driven by run_policy.cs; the expressions themselves are pasted in by extract_policy.py.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

public class Jwt
{
    public JwtClaims Claims = new JwtClaims();
}

public class JwtClaims
{
    public Dictionary<string, string[]> Values = new Dictionary<string, string[]>();

    public string GetValueOrDefault(string name, string defaultValue)
    {
        string[] v;
        return Values.TryGetValue(name, out v) ? string.Join(",", v) : defaultValue;
    }
}

public class Headers
{
    public Dictionary<string, string[]> Values =
        new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);

    public string GetValueOrDefault(string name, string defaultValue)
    {
        string[] v;
        return Values.TryGetValue(name, out v) ? string.Join(",", v) : defaultValue;
    }
}

public class Body
{
    private readonly string text;
    public Body(string text) { this.text = text; }

    public T As<T>(bool preserveContent = false)
    {
        if (typeof(T) == typeof(string)) return (T)(object)text;
        if (typeof(T) == typeof(JObject)) return (T)(object)JObject.Parse(text);
        throw new NotSupportedException(typeof(T).Name);
    }
}

public class Variables
{
    public Dictionary<string, object> Values = new Dictionary<string, object>();

    public object this[string name] { get { return Values[name]; } }
    public bool ContainsKey(string name) { return Values.ContainsKey(name); }

    public T GetValueOrDefault<T>(string name, T defaultValue)
    {
        object v;
        return Values.TryGetValue(name, out v) ? (T)v : defaultValue;
    }
}

public class Message
{
    public Headers Headers = new Headers();
    public Body Body;
    public int StatusCode;
}

public class Deployment { public string ServiceName; public string Region; }
public class Subscription { public string Id; }
public class Product { public string Name; }
public class Operation { public string Name; }

public class MockContext
{
    public Guid RequestId;
    public DateTime Timestamp;
    public Deployment Deployment = new Deployment();
    public Subscription Subscription;
    public Product Product;
    public Operation Operation;
    public Message Request = new Message();
    public Message Response = new Message();
    public Variables Variables = new Variables();

    private static string Str(JToken t) { return t == null || t.Type == JTokenType.Null ? null : (string)t; }

    private static void FillHeaders(Headers h, JToken obj)
    {
        if (obj == null) return;
        foreach (var p in ((JObject)obj).Properties()) h.Values[p.Name] = new[] { (string)p.Value };
    }

    // Builds the context from a case file (tests/fixtures/apim/context-*.json) and the
    // raw response body.
    public static MockContext Load(string casePath, string responseBody)
    {
        JObject c;
        using (var reader = new JsonTextReader(new StringReader(File.ReadAllText(casePath))))
        {
            reader.DateParseHandling = DateParseHandling.None; // keep "timestamp" a string
            c = JObject.Load(reader);
        }
        var ctx = new MockContext();
        ctx.RequestId = Guid.Parse(Str(c["requestId"]));
        ctx.Timestamp = DateTime.Parse(Str(c["timestamp"]), CultureInfo.InvariantCulture,
                                       DateTimeStyles.RoundtripKind);
        ctx.Deployment.ServiceName = Str(c["gatewayName"]);
        ctx.Deployment.Region = Str(c["gatewayRegion"]);
        if (Str(c["subscriptionId"]) != null) ctx.Subscription = new Subscription { Id = Str(c["subscriptionId"]) };
        if (Str(c["productName"]) != null) ctx.Product = new Product { Name = Str(c["productName"]) };
        if (Str(c["operationName"]) != null) ctx.Operation = new Operation { Name = Str(c["operationName"]) };

        FillHeaders(ctx.Request.Headers, c["requestHeaders"]);
        if (c["requestBody"] != null) ctx.Request.Body = new Body(c["requestBody"].ToString());

        var jwt = new Jwt();
        foreach (var p in ((JObject)c["claims"]).Properties()) jwt.Claims.Values[p.Name] = new[] { (string)p.Value };
        // validate-azure-ad-token's output-token-variable-name
        ctx.Variables.Values["tally-jwt"] = jwt;

        ctx.Response.StatusCode = (int)c["statusCode"];
        FillHeaders(ctx.Response.Headers, c["responseHeaders"]);
        ctx.Response.Body = new Body(responseBody);
        return ctx;
    }
}
