using System.Text.Json;
using System.Text.Json.Nodes;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Models.Runtime;
using Saliency.Server.Inference;
using Saliency.Server.Protocol;
using Saliency.Solvers.Caso;
using Saliency.TestSupport;

namespace Saliency.Server.Tests;

/// <summary>
/// The parameters of the six newer methods (layer, window, stride, cell, superpixels, segments) through
/// <c>:explain</c>, the catalogue the reader and the OpenAPI document share, and the v2 metadata read from the
/// engine's session. Oracles: the library's explainers configured directly with the same values (and, to show each
/// parameter takes effect, with that one parameter at its default), an ONNX Runtime session of our own for the
/// metadata, and the lists the reader and the engine validate against.
/// </summary>
[TestFixture]
internal sealed class MethodParameterTests
{
    private ServerHarness _server = null!;
    private OnnxClassifier _lenet = null!;
    private float[] _image = [];

    [OneTimeSetUp]
    public async Task Start()
    {
        _server = await ServerHarness.StartAsync();
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        _image = DigitSet.Load(RepoFiles.DigitImages, RepoFiles.DigitLabels).ImageFloats(5);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _lenet.Dispose();
        await _server.DisposeAsync();
    }

    private static float[] Map(JsonNode explanation) =>
        explanation["map"]!.AsArray().SelectMany(ch => ch!.AsArray().SelectMany(row => row!.AsArray().Select(v => v!.GetValue<float>()))).ToArray();

    private static CasoOptions Solver(CasoObjectiveKind kind) => new() { Kind = kind, MaxIterations = 400 };

    public static IEnumerable<TestCaseData> NewMethodParameters()
    {
        // (parameters, the explainer with those values, the explainer with the new parameter at its default or null)
        yield return new TestCaseData("{\"method\":\"gradcam\",\"layer\":\"/conv1/Conv\"}",
            new GradCamExplainer(new GradCamOptions { Layer = "/conv1/Conv" }), new GradCamExplainer(new GradCamOptions())).SetName("gradcam layer");
        yield return new TestCaseData("{\"method\":\"occlusion\",\"window\":7,\"stride\":3}",
            new OcclusionExplainer(new OcclusionOptions { Window = 7, Stride = 3 }), new OcclusionExplainer(new OcclusionOptions { Window = 4, Stride = 2 })).SetName("occlusion window stride");
        yield return new TestCaseData("{\"method\":\"lime\",\"cell\":7,\"samples\":120,\"seed\":3}",
            new LimeExplainer(new LimeOptions { Cell = 7, SampleCount = 120, Seed = 3 }), new LimeExplainer(new LimeOptions { Cell = 4, SampleCount = 120, Seed = 3 })).SetName("lime cell");
        yield return new TestCaseData("{\"method\":\"lime\",\"superpixels\":true,\"segments\":12,\"samples\":120,\"seed\":3}",
            new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel, Segments = 12, Cell = 4, SampleCount = 120, Seed = 3 }),
            new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel, Segments = 50, Cell = 4, SampleCount = 120, Seed = 3 })).SetName("lime superpixels segments");
        yield return new TestCaseData("{\"method\":\"kernelshap\",\"cell\":14,\"samples\":64,\"seed\":2}",
            new KernelShapExplainer(new KernelShapOptions { Cell = 14, SampleCount = 64, Seed = 2 }), new KernelShapExplainer(new KernelShapOptions { Cell = 7, SampleCount = 64, Seed = 2 })).SetName("kernelshap cell");
        // smooth-caso and smooth-cafo take the older parameters (samples = copies, seed, lambda1, top_classes, max_iterations).
        yield return new TestCaseData("{\"method\":\"smooth-caso\",\"samples\":2,\"seed\":5,\"lambda1\":0.01,\"top_classes\":3,\"max_iterations\":400}",
            new SmoothCasoExplainer(new SmoothCasoExplainerOptions
                { Smoothing = new SmoothingOptions { Copies = 2 }, Seed = 5, Lambda1 = 0.01, TopClasses = 3, Solver = Solver(CasoObjectiveKind.Caso) }), null).SetName("smooth-caso");
        yield return new TestCaseData("{\"method\":\"smooth-cafo\",\"samples\":2,\"seed\":5,\"lambda1\":0.01,\"top_classes\":3,\"max_iterations\":400}",
            new SmoothCasoExplainer(new SmoothCasoExplainerOptions
                { Smoothing = new SmoothingOptions { Copies = 2 }, Seed = 5, Lambda1 = 0.01, TopClasses = 3, Solver = Solver(CasoObjectiveKind.Cafo) }), null).SetName("smooth-cafo");
    }

    [TestCaseSource(nameof(NewMethodParameters))]
    public async Task TheServersExplanationEqualsTheExplainerWithTheSameParameters(string parameters, IExplainer explainer, IExplainer? withDefault)
    {
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(_image, parameters));
        Assert.That(status, Is.EqualTo(200), json?.ToJsonString());
        var e = json!["explanations"]![0]!;
        var expected = explainer.Explain(_lenet, _image, null);

        Assert.That(e["method"]!.GetValue<string>(), Is.EqualTo(expected.Method));
        Assert.That(e["target"]!.GetValue<int>(), Is.EqualTo(expected.Target));
        Assert.That(e["map_shape"]!.AsArray().Select(v => v!.GetValue<int>()), Is.EqualTo(new[] { expected.Map.Channels, expected.Map.Height, expected.Map.Width }));
        var map = Map(e);
        double scale = expected.Map.Values.Max(v => Math.Abs(v));
        Assert.That(map, Is.EqualTo(expected.Map.Values).Within(1e-6 * scale + 1e-9), "the server's map is the explainer's with these parameters");
        if (BaselineReports.From(expected) is { } expectedReport)
        {
            // The typed report crosses the server's JSON (snake_case, enums as strings, strict numbers) under its kind.
            var report = e["report"]!.Deserialize<ExplanationReport>(Json.Options);
            Assert.That(e["report"]!["kind"]!.GetValue<string>(), Is.EqualTo(expected.Method));
            AssertSameReport(report!, expectedReport);
        }
        if (withDefault is not null)
        {
            // The parameter took effect: with it at its default the map differs.
            var other = withDefault.Explain(_lenet, _image, null).Map;
            Assert.That((other.Channels, other.Height, other.Width) != (expected.Map.Channels, expected.Map.Height, expected.Map.Width)
                || other.Values.Zip(expected.Map.Values).Max(p => Math.Abs(p.First - p.Second)) > 1e-3 * scale, Is.True, "the parameter made no difference");
        }
    }

    /// <summary>Counts, settings and names exactly; the figures computed from model outputs to float32 rounding.</summary>
    private static void AssertSameReport(ExplanationReport actual, ExplanationReport expected)
    {
        Assert.That(actual.GetType(), Is.EqualTo(expected.GetType()));
        const double tolerance = 1e-5;
        switch (expected)
        {
            case OcclusionReport o:
                var occlusion = (OcclusionReport)actual;
                Assert.That(occlusion with { InputScore = o.InputScore }, Is.EqualTo(o));
                Assert.That(occlusion.InputScore, Is.EqualTo(o.InputScore).Within(tolerance));
                break;
            case LimeReport l:
                var lime = (LimeReport)actual;
                Assert.That(lime with { Intercept = l.Intercept, WeightedR2 = l.WeightedR2 }, Is.EqualTo(l));
                Assert.That(new[] { lime.Intercept, lime.WeightedR2 }, Is.EqualTo(new[] { l.Intercept, l.WeightedR2 }).Within(tolerance));
                break;
            case KernelShapReport k:
                var shap = (KernelShapReport)actual;
                Assert.That(shap with { BaseValue = k.BaseValue, InputValue = k.InputValue, EfficiencyGap = k.EfficiencyGap, WeightedR2 = k.WeightedR2 }, Is.EqualTo(k));
                Assert.That(new[] { shap.BaseValue, shap.InputValue, shap.WeightedR2 }, Is.EqualTo(new[] { k.BaseValue, k.InputValue, k.WeightedR2 }).Within(tolerance));
                Assert.That(shap.EfficiencyGap, Is.LessThan(1e-9));
                break;
            default:
                Assert.That(actual, Is.EqualTo(expected));
                break;
        }
    }

    public static IEnumerable<TestCaseData> BadParameters()
    {
        int i = 0;
        foreach (var (json, name) in new[]
                 {
                     ("{\"method\":\"occlusion\",\"window\":\"4\"}", "window"), ("{\"method\":\"occlusion\",\"window\":0}", "window"),
                     ("{\"method\":\"occlusion\",\"stride\":-1}", "stride"), ("{\"method\":\"lime\",\"cell\":1.5}", "cell"),
                     ("{\"method\":\"kernelshap\",\"cell\":0}", "cell"), ("{\"method\":\"lime\",\"segments\":0}", "segments"),
                     ("{\"method\":\"lime\",\"superpixels\":1}", "superpixels"), ("{\"method\":\"lime\",\"superpixels\":\"yes\"}", "superpixels"),
                     ("{\"method\":\"gradcam\",\"layer\":5}", "layer"), ("{\"method\":\"gradcam\",\"layer\":\"\"}", "layer"),
                     ("{\"method\":\"gradcam\",\"layer\":\"" + new string('x', 1025) + "\"}", "layer"),
                     ("{\"method\":7}", "method"), ("{\"method\":\"gradcam\",\"layers\":\"x\"}", "layers"),
                     // A layer the model does not have: the engine's refusal (SaliencyRequestException), still 400.
                     ("{\"method\":\"gradcam\",\"layer\":\"nope\"}", "nope"),
                 })
            yield return new TestCaseData(json, name).SetName($"Bad parameter {++i}: {name}");
    }

    [TestCaseSource(nameof(BadParameters))]
    public async Task AWrongTypeOrRangeIs400NamingTheParameter(string parameters, string named)
    {
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(_image, parameters));
        Assert.That(status, Is.EqualTo(400), json?.ToJsonString());
        Assert.That(json!["error"]!.GetValue<string>(), Does.Contain(named));
    }

    [Test]
    public async Task AChannelIsExplainedAloneThroughTheEngine()
    {
        // Oracle: the gradient explainer on the CLI's two-class view [z₃(x), z₃] with target 1; the server reports score 3.
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(_image, "{\"method\":\"gradient\",\"channel\":3}"));
        Assert.That(status, Is.EqualTo(200), json?.ToJsonString());
        var e = json!["explanations"]![0]!;
        using var view = new SingleScoreClassifier(_lenet, 3, offset: _lenet.Predict(_image).LogitsOf(0)[3]);
        var expected = new GradientExplainer().Explain(view, _image, 1);
        Assert.That(e["target"]!.GetValue<int>(), Is.EqualTo(3));
        double scale = expected.Map.Values.Max(v => Math.Abs(v));
        Assert.That(Map(e), Is.EqualTo(expected.Map.Values).Within(1e-6 * scale + 1e-9));
        var (bad, _) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(_image, "{\"method\":\"gradient\",\"channel\":-1}"));
        Assert.That(bad, Is.EqualTo(400));
    }

    [Test]
    public void EveryAcceptedExplainParameterReachesTheSettings()
    {
        // One non-default value per parameter that goes to the engine: if a parameter is added to the catalogue
        // (V1ExplainParameters) but not read into MethodSettings, or added here but not to the catalogue, this fails.
        var values = new Dictionary<string, string>
        {
            ["method"] = "\"caso\"", ["lambda1"] = "0.5", ["samples"] = "3", ["seed"] = "9", ["bound_factor"] = "0.5", ["top_classes"] = "2",
            ["max_iterations"] = "7", ["layer"] = "\"x\"", ["window"] = "3", ["stride"] = "2", ["cell"] = "5", ["superpixels"] = "true", ["segments"] = "9",
            ["channel"] = "3",
        };
        string[] readElsewhere = ["target", "resize", "timeout_ms"]; // per instance, by the image reader, by the deadline
        Assert.That(values.Keys.Concat(readElsewhere), Is.EquivalentTo(RequestReader.ExplainParameters));
        var defaults = RequestReader.Settings([]);
        foreach (var (name, value) in values)
        {
            var settings = RequestReader.Settings(new Dictionary<string, JsonElement> { [name] = JsonDocument.Parse(value).RootElement });
            Assert.That(settings, Is.Not.EqualTo(defaults), name);
            Assert.That(settings.Key, Is.Not.EqualTo(defaults.Key), $"{name}: instances with other values would share a batch");
        }
        // null is the default for every parameter.
        foreach (var name in values.Keys)
            Assert.That(RequestReader.Settings(new Dictionary<string, JsonElement> { [name] = JsonDocument.Parse("null").RootElement }), Is.EqualTo(defaults), name);
    }

    [Test]
    public void BatchKeysDifferWhenAnyParameterDoesAndNoLayerNameForgesOne()
    {
        var a = new MethodSettings("lime", null, 100, 0, null, null, null);
        MethodSettings[] variants =
        [
            a, a with { Layer = "x" }, a with { Window = 4 }, a with { Stride = 4 }, a with { Cell = 4 }, a with { Superpixels = true }, a with { Segments = 4 }, a with { Channel = 4 },
            // Layer names holding the separator must not read as another layer plus other values.
            a with { Layer = "x|4" }, a with { Layer = "x", Segments = 4 }, a with { Layer = "1:x" }, a with { Layer = "" },
        ];
        Assert.That(variants.Select(v => v.Key).Distinct().Count(), Is.EqualTo(variants.Length), string.Join("\n", variants.Select(v => v.Key)));
        Assert.That((a with { Window = 4 }).Key, Is.EqualTo((a with { Window = 4 }).Key));
    }

    [Test]
    public async Task TheOpenApiDocumentListsWhatTheServerAccepts()
    {
        var doc = JsonNode.Parse(await _server.Client.GetStringAsync("/openapi/v1.json"))!;
        var schemas = doc["components"]!["schemas"]!;
        var explain = schemas["V1ExplainParameters"]!["properties"]!.AsObject();
        var predict = schemas["V1PredictParameters"]!["properties"]!.AsObject();
        Assert.That(explain.Select(p => p.Key), Is.EqualTo(RequestReader.ExplainParameters));
        Assert.That(predict.Select(p => p.Key), Is.EqualTo(RequestReader.PredictParameters));
        Assert.That(schemas["V2InferParameters"]!["properties"]!.AsObject().Select(p => p.Key), Is.EqualTo(RequestReader.InferParameters));
        // Required is what the reader requires: instances (v1), inputs (v2) and each input's shape, datatype and data.
        Assert.That(schemas["V1ExplainRequest"]!["required"]!.AsArray().Select(v => v!.GetValue<string>()), Is.EqualTo(new[] { "instances" }));
        Assert.That(schemas["V2InferRequest"]!["required"]!.AsArray().Select(v => v!.GetValue<string>()), Is.EqualTo(new[] { "inputs" }));
        Assert.That(schemas["V2Tensor"]!["required"]!.AsArray().Select(v => v!.GetValue<string>()), Is.EquivalentTo(new[] { "shape", "datatype", "data" }));
        var methods = explain["method"]!["enum"]!.AsArray().Where(v => v is not null).Select(v => v!.GetValue<string>()).ToArray();
        Assert.That(methods, Is.EqualTo(SaliencyMethods.All));
        Assert.That(methods, Has.Length.EqualTo(14));
        Assert.That(explain.Select(p => p.Key), Is.SupersetOf(new[] { "layer", "window", "stride", "cell", "superpixels", "segments" }));
        var description = doc["paths"]!["/v1/models/{name}:explain"]!["post"]!["description"]!.GetValue<string>();
        Assert.That(methods.Concat(RequestReader.ExplainParameters), Is.All.Matches<string>(s => description.Contains(s!)));
        // The response schemas name the fields as the bodies do.
        Assert.That(schemas["V1Explanation"]!["properties"]!.AsObject().Select(p => p.Key), Does.Contain("predicted_class").And.Contain("map_shape"));

        // What the server accepts: an unknown method is refused with the same list, and every listed method and
        // parameter is taken (the cheapest settings; the engine ignores the parameters a method does not use).
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(_image, "{\"method\":\"magic\"}"));
        Assert.That(status, Is.EqualTo(400));
        var listed = json!["error"]!.GetValue<string>().Split("use one of ")[1].TrimEnd('.').Split(", ");
        Assert.That(listed, Is.EqualTo(methods));
        var answers = await Task.WhenAll(methods.Select(m => _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(_image,
            $"{{\"method\":\"{m}\",\"target\":1,\"lambda1\":0.05,\"samples\":16,\"seed\":1,\"bound_factor\":0.1,\"top_classes\":2,\"max_iterations\":20," +
            "\"layer\":null,\"window\":14,\"stride\":14,\"cell\":14,\"superpixels\":false,\"segments\":4,\"resize\":false,\"timeout_ms\":60000}"))));
        for (int i = 0; i < methods.Length; i++)
        {
            Assert.That(answers[i].Status, Is.EqualTo(200), $"{methods[i]}: {answers[i].Body?.ToJsonString()}");
            Assert.That(answers[i].Body!["explanations"]![0]!["target"]!.GetValue<int>(), Is.EqualTo(1), methods[i]);
        }
    }

    [Test]
    public async Task V2ModelMetadataNamesTheModelsOwnInputAndOutput()
    {
        // The body as it was built from a session of the server's own (now from the engine's): the oracle is an
        // independent ONNX Runtime session on the file.
        using var session = InferenceSession.Create(RepoFiles.LeNetModel);
        var expected = JsonNode.Parse($$"""
            {"name":"lenet","versions":["1"],"platform":"onnxruntime_onnx",
             "inputs":[{"name":"{{session.Inputs[0].Name}}","datatype":"FP32","shape":[-1,1,28,28]}],
             "outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,10]},{"name":"{{session.Outputs[0].Name}}","datatype":"FP32","shape":[-1,10]},
                        {"name":"predicted_class","datatype":"INT64","shape":[-1]}]}
            """);
        var body = JsonNode.Parse(await _server.Client.GetStringAsync("/v2/models/lenet"));
        Assert.That(JsonNode.DeepEquals(body, expected), Is.True, body?.ToJsonString());
        // And v2 inference takes that input name and answers under that output name.
        var (status, json) = await _server.PostJsonAsync("/v2/models/lenet/infer",
            $"{{\"inputs\":[{{\"name\":\"{session.Inputs[0].Name}\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[{string.Join(',', _image)}]}}],\"outputs\":[{{\"name\":\"{session.Outputs[0].Name}\"}}]}}");
        Assert.That(status, Is.EqualTo(200), json?.ToJsonString());
        Assert.That(json!["outputs"]![0]!["name"]!.GetValue<string>(), Is.EqualTo(session.Outputs[0].Name));
    }
}
