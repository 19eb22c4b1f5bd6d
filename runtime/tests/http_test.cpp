#include "apexloop/runtime/http.hpp"
#include "apexloop/runtime/metrics.hpp"

#include <gtest/gtest.h>

namespace apexloop::http {
namespace {

Request make(bhttp::verb method, std::string target) {
  Request req{method, target, 11};
  return req;
}

TEST(Metrics, AMetricIsItsHelpTypeAndSample) {
  std::string out;
  write_metric(out, "apexloop_x_total", "counter", "Things counted.", 3);
  write_metric(out, "apexloop_ready", "gauge", "", 1);
  EXPECT_EQ(out,
            "# HELP apexloop_x_total Things counted.\n# TYPE apexloop_x_total counter\napexloop_x_total 3\n"
            "# TYPE apexloop_ready gauge\napexloop_ready 1\n");
}

TEST(Target, SplitsAndDecodes) {
  auto t = parse_target("/api/v1/x%20y?limit=5&cursor=a%2Fb&flag&q=a+b");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/api/v1/x y");
  EXPECT_EQ(t->query.at("limit"), "5");
  EXPECT_EQ(t->query.at("cursor"), "a/b");
  EXPECT_EQ(t->query.at("flag"), "");
  EXPECT_EQ(t->query.at("q"), "a b");
}

TEST(Target, RefusesBadEncoding) {
  EXPECT_FALSE(parse_target("/a%zz").has_value());
  EXPECT_FALSE(parse_target("/a%2").has_value());
  EXPECT_FALSE(parse_target("/a?b=%").has_value());
  EXPECT_FALSE(parse_target("http://x/a").has_value());
}

TEST(Router, MatchesCapturesAndAnswers405And404) {
  Router r;
  r.add(bhttp::verb::get, "/api/v1/databases/{db}/records/{id}", [](const Request& req, RequestContext& ctx) {
    return json_response(req, bhttp::status::ok, ctx.params.at("db") + "/" + ctx.params.at("id") + "/" +
                                                     ctx.params.at("?limit"));
  });
  RequestContext ctx;
  auto ok = r.dispatch(make(bhttp::verb::get, "/api/v1/databases/tickets/records/r1?limit=3"), ctx);
  EXPECT_EQ(ok.result(), bhttp::status::ok);
  EXPECT_EQ(ok.body(), "tickets/r1/3");
  EXPECT_EQ(ctx.route, "/api/v1/databases/{db}/records/{id}");

  RequestContext ctx2;
  auto wrong_method = r.dispatch(make(bhttp::verb::post, "/api/v1/databases/tickets/records/r1"), ctx2);
  EXPECT_EQ(wrong_method.result(), bhttp::status::method_not_allowed);
  EXPECT_EQ(wrong_method[bhttp::field::allow], "GET");
  EXPECT_EQ(wrong_method[bhttp::field::content_type], "application/problem+json");

  RequestContext ctx3;
  EXPECT_EQ(r.dispatch(make(bhttp::verb::get, "/api/v1/databases/tickets/records/"), ctx3).result(),
            bhttp::status::not_found);
  EXPECT_EQ(r.dispatch(make(bhttp::verb::get, "/api/v1/databases/tickets/records/r1/x"), ctx3).result(),
            bhttp::status::not_found);
}

TEST(Problem, IsRfc9457) {
  auto res = problem(11, true, bhttp::status::conflict, "", "the record changed");
  EXPECT_EQ(res[bhttp::field::content_type], "application/problem+json");
  auto body = parse_json(res.body());
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->string_or("title", ""), "Conflict");
  EXPECT_EQ(body->find("status")->as_int(), 409);
  EXPECT_EQ(body->string_or("detail", ""), "the record changed");
  EXPECT_EQ(body->string_or("type", ""), "about:blank");
}

TEST(ContentType, AcceptsJsonWithParameters) {
  Request req = make(bhttp::verb::post, "/");
  EXPECT_FALSE(is_json_content_type(req));
  req.set(bhttp::field::content_type, "application/json; charset=utf-8");
  EXPECT_TRUE(is_json_content_type(req));
  req.set(bhttp::field::content_type, "text/plain");
  EXPECT_FALSE(is_json_content_type(req));
  req.set(bhttp::field::content_type, "application/jsonx");
  EXPECT_FALSE(is_json_content_type(req));
}

}  // namespace
}  // namespace apexloop::http
